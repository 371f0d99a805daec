import { Controller, Header, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Public } from '../auth/auth.decorators.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { JOSE_MEDIA_TYPE } from '../peers/peer-client.js';
import { AuditCheckpoints } from './audit-checkpoints.service.js';
import { AcceptsBody } from '../http/request-body.js';

/** This node as a witness of its peers' audit chains. */
@ApiTags('peers (node-to-node)')
@Controller('v1/peer/audit-checkpoints')
export class AuditCheckpointsController {
  constructor(private readonly checkpoints: AuditCheckpoints) {}

  @Post()
  @AcceptsBody('jose')
  @Public() // Authenticated by the envelope's signature, against the registered peer.
  @HttpCode(204)
  @ApiOperation({
    summary: "Keep a peer node's audit checkpoint (as its witness)",
    description:
      'Body: the node-to-node envelope (as for location queries) of an `audit-checkpoint-notice` `{checkpoint}`: the ' +
      'compact JWS (EdDSA, signed by the sender) of `{typ: "audit-checkpoint", iss, seq, head, iat}`. The newest ' +
      'checkpoint (highest seq) of each node is kept. Anything that fails a check is refused with 401.',
  })
  @ApiConsumes(JOSE_MEDIA_TYPE)
  @ApiBody({ schema: { type: 'string', description: 'compact JWE' } })
  @ApiNoContentResponse({ description: 'Received' })
  @ApiProblems('PEER_MESSAGE_REFUSED', 'PAYLOAD_TOO_LARGE')
  async receive(@Req() request: FastifyRequest): Promise<void> {
    await this.checkpoints.receive(request.body, request.id);
  }

  @Post('latest')
  @AcceptsBody('jose')
  @Public()
  @HttpCode(200)
  @Header('Content-Type', JOSE_MEDIA_TYPE)
  @ApiOperation({
    summary: 'The newest audit checkpoint held of a node',
    description:
      'Body: the envelope of an `audit-checkpoint-query` `{node}`. Answer: the envelope, to the sender, of an ' +
      '`audit-checkpoint-answer` `{inReplyTo, node, checkpoint}` (the node\'s own signed JWS as received, or null).',
  })
  @ApiConsumes(JOSE_MEDIA_TYPE)
  @ApiProduces(JOSE_MEDIA_TYPE)
  @ApiBody({ schema: { type: 'string', description: 'compact JWE' } })
  @ApiOkResponse({ schema: { type: 'string', description: 'compact JWE' } })
  @ApiProblems('PEER_MESSAGE_REFUSED', 'PAYLOAD_TOO_LARGE')
  latest(@Req() request: FastifyRequest): Promise<string> {
    return this.checkpoints.answerQuery(request.body, request.id);
  }
}
