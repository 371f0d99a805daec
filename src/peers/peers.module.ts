import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { KEY_MATERIAL } from '../crypto/crypto.tokens.js';
import type { KeyMaterial } from '../crypto/key-material.js';
import { DeceasedReportsRepository } from '../linkages/deceased-reports.repository.js';
import { LinkagesModule } from '../linkages/linkages.module.js';
import { LocationsModule } from '../locations/locations.module.js';
import { createNodeIdentity } from './envelope.js';
import { PeerClient } from './peer-client.js';
import { PeerInboundService } from './peer-inbound.service.js';
import { PeerMessageIdsRepository } from './peer-message-ids.repository.js';
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
  DeceasedReportsRepository,
];

/**
 * This node's identity, the registry of peer nodes, and both directions of the
 * node-to-node protocol. Shared by the API (with PeersApiModule's routes) and the
 * worker (which sends queries to peers and looks up hosted institutions).
 */
@Module({
  // LinkagesModule: HostedNumbering, which answers numbering notices (and the worker's fan-out).
  imports: [AuditModule, LocationsModule, LinkagesModule],
  providers: [
    {
      provide: NODE_IDENTITY,
      inject: [KEY_MATERIAL],
      useFactory: ({ node }: KeyMaterial) => createNodeIdentity(node.nodeId, node.signingPrivateJwk, node.encryptionPrivateJwk),
    },
    ...SHARED,
  ],
  exports: [NODE_IDENTITY, ...SHARED, LocationsModule, LinkagesModule],
})
export class PeersModule {}
