import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { KEY_MATERIAL } from '../crypto/crypto.tokens.js';
import type { KeyMaterial } from '../crypto/key-material.js';
import { LinkagesCoreModule } from '../linkages/linkages-core.module.js';
import { LocationsModule } from '../locations/locations.module.js';
import { createNodeIdentity } from './envelope.js';
import { PeerClient } from './peer-client.js';
import { PeerInboundService } from './peer-inbound.service.js';
import { PeerMessageIdsRepository } from './peer-message-ids.repository.js';
import { PeerQuota } from './peer-quota.js';
import { PeersRepository } from './peers.repository.js';
import { PeersService } from './peers.service.js';
import { NODE_IDENTITY } from './peers.tokens.js';

/** Provided here and used by the API's routes and the worker alike. */
const SHARED = [
  PeersRepository,
  PeerMessageIdsRepository,
  PeersService,
  PeerClient,
  PeerInboundService,
  PeerQuota,
];

/**
 * This node's identity, the registry of peer nodes, and both directions of the
 * node-to-node protocol. Shared by the API (with PeersApiModule's routes) and the
 * worker (which sends queries to peers and looks up hosted institutions).
 */
@Module({
  // LinkagesCoreModule: HostedNumbering and the deceased report, for inbound messages and the worker's fan-out.
  imports: [AuditModule, LocationsModule, LinkagesCoreModule],
  providers: [
    {
      provide: NODE_IDENTITY,
      inject: [KEY_MATERIAL],
      useFactory: ({ node }: KeyMaterial) =>
        createNodeIdentity(
          node.nodeId,
          node.signingPrivateJwk,
          node.encryptionPrivateJwk,
          (node.previous ?? []).map((p) => ({ signingJwk: p.signingPrivateJwk ?? p.signingJwk, encryptionPrivateJwk: p.encryptionPrivateJwk, notAfter: p.notAfter })),
        ),
    },
    ...SHARED,
  ],
  exports: [NODE_IDENTITY, ...SHARED, LocationsModule, LinkagesCoreModule],
})
export class PeersModule {}
