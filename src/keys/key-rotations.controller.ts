import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_LIST_LIMIT } from '../common/validation/list-limit.js';
import { auditActor } from '../audit/audit-actor.js';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { KeyRotationListView, KeyRotationView, ListKeyRotationsQuery, StartKeyRotationDto } from './dto/key-rotation.dto.js';
import { KeyRotationsService } from './key-rotations.service.js';

export const KEY_ROTATIONS_PATH = '/v1/key-rotations';

@ApiTags('keys')
@ApiBearerAuth()
@Controller('v1/key-rotations')
export class KeyRotationsController {
  constructor(private readonly rotations: KeyRotationsService) {}

  @Post()
  @HttpCode(202)
  @RequireScopes('admin:keys')
  @ApiOperation({
    summary: 'Start a key rotation: re-index under the active blind-index version, or re-wrap under the active master key',
    description:
      'Operator key only. Start it once every API and worker process runs with the new key active ' +
      '(README, key management). Look-ups answer correctly while it runs. 202 and a rotation to poll.',
  })
  @ApiAcceptedResponse({ type: KeyRotationView, headers: { Location: { description: 'The rotation', schema: { type: 'string' } } } })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED', 'KEY_ROTATION_IN_PROGRESS')
  async start(
    @Body() body: StartKeyRotationDto,
    @CurrentPrincipal() principal: Principal | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<KeyRotationView> {
    const view = await this.rotations.start(body.kind, auditActor(principal, request));
    void reply.header('location', `${KEY_ROTATIONS_PATH}/${view.id}`);
    return view;
  }

  @Get()
  @RequireScopes('admin:keys')
  @ApiOperation({ summary: 'Key rotations, newest first' })
  @ApiOkResponse({ type: KeyRotationListView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED')
  async list(@Query() query: ListKeyRotationsQuery): Promise<KeyRotationListView> {
    return { items: await this.rotations.list(query.limit ?? DEFAULT_LIST_LIMIT) };
  }

  @Get(':id')
  @RequireScopes('admin:keys')
  @ApiOperation({ summary: 'Status and progress of a key rotation' })
  @ApiOkResponse({ type: KeyRotationView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND')
  get(@Param('id') id: string): Promise<KeyRotationView> {
    return this.rotations.get(id);
  }
}
