import { Controller, Header, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Public } from '../auth/auth.decorators.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { JOSE_MEDIA_TYPE } from './peer-client.js';
import { PeerAddressLimitGuard } from './peer-address-limit.guard.js';
import { PeerInboundService } from './peer-inbound.service.js';
import { AcceptsBody } from '../http/request-body.js';

@ApiTags('peers (node-to-node)')
@Controller('v1/peer')
// Per client address, before the envelope is opened.
@UseGuards(PeerAddressLimitGuard)
export class PeerLocationQueriesController {
  constructor(private readonly inbound: PeerInboundService) {}

  @Post('location-queries')
  @AcceptsBody('jose')
  @Public() // Authenticated by the envelope's signature, against the registered peer.
  @HttpCode(200)
  @Header('Content-Type', JOSE_MEDIA_TYPE)
  @ApiOperation({
    operationId: 'answerLocationQuery',
    summary: 'Answer a location query from a peer node',
    description:
      'Body: a compact JWE (ECDH-ES+A256KW, A256GCM, to this node\'s X25519 key) of a compact JWS (EdDSA, kid = the ' +
      'sender\'s node id) of a location-query (protocol version 2: each query names the subject by name key and ' +
      'birth date, and only a matching subject\'s accounts are listed). Answer: the same envelope, to the sender, of a ' +
      'location-answer. Anything that fails a check is refused with 401 and no answer; an authenticated sender of ' +
      'another protocol version gets 400, of a claim of death without its grounds 422; a message from a peer whose ' +
      'quota of queries per minute is spent, 429 PEER_QUOTA_EXCEEDED with Retry-After.',
  })
  @ApiConsumes(JOSE_MEDIA_TYPE)
  @ApiProduces(JOSE_MEDIA_TYPE)
  @ApiBody({ schema: { type: 'string', description: 'compact JWE' } })
  @ApiOkResponse({ schema: { type: 'string', description: 'compact JWE' } })
  @ApiProblems('PEER_PROTOCOL_VERSION_UNSUPPORTED', 'PEER_MESSAGE_REFUSED', 'PEER_DECEASED_CLAIM_REFUSED', 'PEER_RATE_LIMITED', 'PEER_QUOTA_EXCEEDED', 'PAYLOAD_TOO_LARGE')
  async answer(@Req() request: FastifyRequest): Promise<string> {
    // The raw body: the validation pipe is for JSON DTOs, and the envelope is checked whole.
    return (await this.inbound.answer(request.body, request.id)).envelope;
  }

  @Post('numbering-notices')
  @AcceptsBody('jose')
  @Public() // Authenticated by the envelope's signature, against the registered peer.
  @HttpCode(200)
  @Header('Content-Type', JOSE_MEDIA_TYPE)
  @ApiOperation({
    operationId: 'answerNumberingNotice',
    summary: 'Number a depositor at the institutions hosted here, at the request of another node (他行付番)',
    description:
      'Body: the same envelope as a location query, of a numbering-notice. Each notice is matched against the ' +
      'named hosted institutions\' account registers and, on one match, the number is attached to that ' +
      'depositor\'s open accounts. Answer: the same envelope, to the sender, of a numbering-result listing every ' +
      'asked institution hosted here (attached, no-match or ambiguous). Anything that fails a check, a ' +
      'location-query included, is refused with 401 and no answer.',
  })
  @ApiConsumes(JOSE_MEDIA_TYPE)
  @ApiProduces(JOSE_MEDIA_TYPE)
  @ApiBody({ schema: { type: 'string', description: 'compact JWE' } })
  @ApiOkResponse({ schema: { type: 'string', description: 'compact JWE' } })
  @ApiProblems('PEER_PROTOCOL_VERSION_UNSUPPORTED', 'PEER_MESSAGE_REFUSED', 'PEER_ORIGIN_NOT_REGISTERED', 'PEER_RATE_LIMITED', 'PEER_QUOTA_EXCEEDED', 'PAYLOAD_TOO_LARGE')
  async numberingNotice(@Req() request: FastifyRequest): Promise<string> {
    return (await this.inbound.answerNumbering(request.body, request.id)).envelope;
  }
}
