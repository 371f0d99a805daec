import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { auditActor } from '../audit/audit-actor.js';
import { CurrentPrincipal, Public, RequireScopes } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { NodeDto, PeerDto, PeerListDto, PeerNodeIdParams, RegisterPeerDto } from './dto/peer.dto.js';
import type { JWK } from 'jose';
import { epochSeconds, type NodeIdentity } from './envelope.js';
import { PeersService } from './peers.service.js';
import { NODE_IDENTITY } from './peers.tokens.js';

@ApiTags('peers (operator)')
@ApiBearerAuth()
@Controller('v1/peers')
export class PeersController {
  constructor(private readonly peers: PeersService) {}

  @Post()
  @RequireScopes('admin:peers')
  @ApiOperation({
    summary: 'Register a peer node and the institutions behind it',
    description:
      'Keys are the public JWKs its GET /v1/node shows. Registering a node id again replaces its endpoint, keys and ' +
      'institutions and enables it again (201 when created, 200 when updated). An institution code hosted here or ' +
      'behind another peer node is refused.',
  })
  @ApiCreatedResponse({ type: PeerDto })
  @ApiOkResponse({ type: PeerDto, description: 'An existing registration, updated' })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED', 'INSTITUTION_EXISTS', 'MALFORMED_JSON')
  async register(
    @Body() dto: RegisterPeerDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<PeerDto> {
    const { peer, created } = await this.peers.register(dto, auditActor(principal, request));
    void reply.status(created ? 201 : 200);
    return peer;
  }

  @Get()
  @RequireScopes('admin:peers')
  @ApiOperation({ summary: 'List peer nodes, disabled ones included' })
  @ApiOkResponse({ type: PeerListDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE')
  async list(): Promise<PeerListDto> {
    return { items: await this.peers.list() };
  }

  @Get(':nodeId')
  @RequireScopes('admin:peers')
  @ApiOperation({ summary: 'Read a peer node' })
  @ApiOkResponse({ type: PeerDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND')
  get(@Param() params: PeerNodeIdParams): Promise<PeerDto> {
    return this.peers.get(params.nodeId);
  }

  @Post(':nodeId/refresh')
  @HttpCode(200)
  @RequireScopes('admin:peers')
  @ApiOperation({
    operationId: 'refreshPeer',
    summary: "Fetch a peer's GET /v1/node and store its current keys and previous signing keys",
    description:
      'What the worker does on a schedule (PEER_KEY_REFRESH_INTERVAL_MS), now. The node id published must be the ' +
      "peer's; the keys are stored as published: messages to it are sealed to its new encryption key, and its " +
      'messages are verified against its current signing key or a previous one until that key\'s notAfter.',
  })
  @ApiOkResponse({ type: PeerDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND', 'PEER_KEYS_UNAVAILABLE')
  refresh(
    @Param() params: PeerNodeIdParams,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<PeerDto> {
    return this.peers.refreshKeys(params.nodeId, auditActor(principal, request));
  }

  @Delete(':nodeId')
  @RequireScopes('admin:peers')
  @ApiOperation({
    operationId: 'disablePeer',
    summary: 'Disable a peer node',
    description: 'Nothing is sent to it or accepted from it any more; its rows are kept. Registering it again enables it.',
  })
  @ApiOkResponse({ type: PeerDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND')
  disable(
    @Param() params: PeerNodeIdParams,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<PeerDto> {
    return this.peers.disable(params.nodeId, auditActor(principal, request));
  }
}

@ApiTags('peers (node-to-node)')
@Controller('v1/node')
export class NodeController {
  constructor(@Inject(NODE_IDENTITY) private readonly identity: NodeIdentity) {}

  @Get()
  @Public()
  @ApiOperation({ summary: "This node's id and public keys, for peer operators to register it" })
  @ApiOkResponse({ type: NodeDto })
  node(): NodeDto {
    const { nodeId, signingJwk, encryptionJwk, signingKid, encryptionKid, previous } = this.identity;
    const now = epochSeconds();
    const jwk = (key: JWK) => ({ kty: String(key.kty), crv: String(key.crv), x: String(key.x) });
    return {
      nodeId,
      // The current keys, as nodes that predate rotation read them.
      signingKey: jwk(signingJwk),
      encryptionKey: jwk(encryptionJwk),
      keys: [
        { ...jwk(signingJwk), kid: signingKid, use: 'sig', status: 'current' },
        { ...jwk(encryptionJwk), kid: encryptionKid, use: 'enc', status: 'current' },
        // Previous signing keys until their notAfter; previous encryption keys are never
        // published: peers encrypt to the current one only.
        ...previous
          .filter((p) => p.signingJwk && p.notAfter > now)
          .map((p) => ({
            ...jwk(p.signingJwk!),
            kid: p.signingKid!,
            use: 'sig' as const,
            status: 'previous' as const,
            notAfter: new Date(p.notAfter * 1000).toISOString(),
          })),
      ],
    };
  }
}
