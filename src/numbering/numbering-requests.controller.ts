import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_LIST_LIMIT } from '../common/validation/list-limit.js';
import { auditActor } from '../audit/audit-actor.js';
import { CurrentInstitution, RequireScopes } from '../auth/auth.decorators.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { IdempotencyService } from '../idempotency/idempotency.service.js';
import { ListInquiriesQuery } from '../inquiries/dto/list-inquiries.query.js';
import { CreateNumberingRequestDto } from './dto/create-numbering-request.dto.js';
import { AcceptedNumberingRequestView, NumberingRequestListView, NumberingRequestView } from './dto/numbering-request.view.js';
import { NumberingRequestsService } from './numbering-requests.service.js';

@ApiTags('numbering requests')
@ApiBearerAuth()
@Controller('v1/numbering-requests')
export class NumberingRequestsController {
  constructor(private readonly requests: NumberingRequestsService) {}

  @Post()
  @HttpCode(202)
  @RequireScopes('linkages:write')
  @ApiOperation({
    summary: "Have the depositor's number attached at other institutions too (他行付番)",
    description:
      'Answers at once with the request id; the worker sends the request to each target (hosted here or behind a ' +
      "peer node), which matches its own customers by kana name, birth date and address and, on one match, attaches " +
      "the number to that depositor's open accounts. Poll `GET /v1/numbering-requests/{id}` or wait for the " +
      '`numbering-request.completed` webhook. Without `targetInstitutions`: every institution this node knows but ' +
      'the requesting one.',
  })
  @ApiAcceptedResponse({
    type: AcceptedNumberingRequestView,
    headers: { Location: { description: 'The numbering request', schema: { type: 'string' } } },
  })
  @ApiProblems(
    'MALFORMED_JSON',
    'UNAUTHENTICATED',
    'FORBIDDEN_SCOPE',
    'VALIDATION_FAILED',
    'INVALID_MY_NUMBER',
    'UNKNOWN_INSTITUTION',
    'TARGET_IS_REQUESTER',
    'NO_TARGET_INSTITUTION',
    'INVALID_IDEMPOTENCY_KEY',
    'IDEMPOTENCY_KEY_REUSED',
  )
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '1-255 printable ASCII characters, kept IDEMPOTENCY_TTL_HOURS' })
  async create(
    @Body() dto: CreateNumberingRequestDto,
    @Headers('idempotency-key') idempotencyHeader: string | undefined,
    @CurrentInstitution() caller: InstitutionPrincipal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AcceptedNumberingRequestView> {
    const actor = auditActor(caller, request, { branchCode: dto.branchCode, operatorId: dto.operatorId });
    const idempotencyKey = IdempotencyService.parseKey(idempotencyHeader);
    const { body, replayed } = await this.requests.create(caller, dto, actor, idempotencyKey);
    void reply.header('location', `/v1/numbering-requests/${body.id}`);
    IdempotencyService.markReplayed(reply, replayed);
    return body;
  }

  @Get()
  @RequireScopes('linkages:read')
  @ApiOperation({ summary: "The institution's numbering requests, newest first" })
  @ApiOkResponse({ type: NumberingRequestListView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED')
  async list(@Query() query: ListInquiriesQuery, @CurrentInstitution() caller: InstitutionPrincipal): Promise<NumberingRequestListView> {
    return { items: await this.requests.list(caller, query.limit ?? DEFAULT_LIST_LIMIT, query.status) };
  }

  @Get(':id')
  @RequireScopes('linkages:read')
  @ApiOperation({
    summary: 'Status, progress and, per target, attached (with how many accounts), no-match, ambiguous, unreachable or pending',
    description: 'Only the requesting institution sees its numbering requests; any other id (an inquiry\'s included) answers 404.',
  })
  @ApiOkResponse({ type: NumberingRequestView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND')
  get(
    @Param('id') id: string,
    @CurrentInstitution() caller: InstitutionPrincipal,
    @Req() request: FastifyRequest,
  ): Promise<NumberingRequestView> {
    return this.requests.get(caller, id, auditActor(caller, request));
  }
}
