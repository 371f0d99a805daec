import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { auditActor } from '../audit/audit-actor.js';
import { CurrentPrincipal, Public, RequireScopes } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { NodeDto, PeerDto, PeerListDto, PeerNodeIdParams, RegisterPeerDto } from './dto/peer.dto.js';
import type { NodeIdentity } from './envelope.js';
import { currentKeyStatement } from './key-statement.js';
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
      "peer's. New keys are stored only from the peer's key statement, signed by a key already trusted for it " +
      '(otherwise 409 PEER_KEY_CHANGE_UNENDORSED: re-register the peer to accept them): messages to it are then sealed ' +
      "to its new encryption key, and its messages verified against its current signing key or a previous one until " +
      "that key's notAfter.",
  })
  @ApiOkResponse({ type: PeerDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND', 'PEER_KEYS_UNAVAILABLE', 'PEER_KEY_CHANGE_UNENDORSED')
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
  @ApiOperation({
    summary: "This node's id and public keys, for peer operators to register it",
    description:
      'keyStatement: the same keys, with iat, in a JWS (General JSON Serialization, typ kouza-key-statement+jws) signed ' +
      'by the current signing key and by each previous one held: peers refreshing their copy believe new keys only on ' +
      'a signature by a key they already trust for this node.',
  })
  @ApiOkResponse({ type: NodeDto })
  async node(): Promise<NodeDto> {
    const { node, statement } = currentKeyStatement(this.identity);
    return { ...node, keyStatement: (await statement) as NodeDto['keyStatement'] };
  }
}
