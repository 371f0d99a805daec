import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_LIST_LIMIT } from '../common/validation/list-limit.js';
import { auditActor } from '../audit/audit-actor.js';
import { CurrentInstitution, RequireScopes } from '../auth/auth.decorators.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { IdempotencyService } from '../idempotency/idempotency.service.js';
import { CreateInquiryDto } from './dto/create-inquiry.dto.js';
import { AcceptedInquiryView, InquiryListView, InquiryView } from './dto/inquiry.view.js';
import { ListInquiriesQuery } from './dto/list-inquiries.query.js';
import { InquiriesService } from './inquiries.service.js';

@ApiTags('inquiries')
@ApiBearerAuth()
@Controller('v1/inquiries')
export class InquiriesController {
  constructor(private readonly inquiries: InquiriesService) {}

  @Post()
  @HttpCode(202)
  @RequireScopes('inquiries:write')
  @ApiOperation({
    summary: 'Ask every institution where a depositor holds accounts (inheritance or disaster)',
    description:
      'Answers at once with the inquiry id; the fan-out to hosted institutions and peer nodes runs in the worker. ' +
      'Poll `GET /v1/inquiries/{id}`, or wait for the completion webhook. Disaster inquiries need an active ' +
      'declaration covering `subject.municipalityCode` and are served before inheritance inquiries.',
  })
  @ApiAcceptedResponse({ type: AcceptedInquiryView, headers: { Location: { description: 'The inquiry', schema: { type: 'string' } } } })
  @ApiProblems(
    'MALFORMED_JSON',
    'UNAUTHENTICATED',
    'FORBIDDEN_SCOPE',
    'VALIDATION_FAILED',
    'INVALID_MY_NUMBER',
    'NO_ACTIVE_DISASTER_DECLARATION',
    'UNKNOWN_INSTITUTION',
    'INVALID_IDEMPOTENCY_KEY',
    'IDEMPOTENCY_KEY_REUSED',
  )
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '1-255 printable ASCII characters, kept IDEMPOTENCY_TTL_HOURS' })
  async create(
    @Body() dto: CreateInquiryDto,
    @Headers('idempotency-key') idempotencyHeader: string | undefined,
    @CurrentInstitution() caller: InstitutionPrincipal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AcceptedInquiryView> {
    const actor = auditActor(caller, request, { branchCode: dto.branchCode, operatorId: dto.operatorId });
    const idempotencyKey = IdempotencyService.parseKey(idempotencyHeader);
    const { body, replayed } = await this.inquiries.create(caller, dto, actor, idempotencyKey);
    void reply.header('location', `/v1/inquiries/${body.id}`);
    IdempotencyService.markReplayed(reply, replayed);
    return body;
  }

  @Get()
  @RequireScopes('inquiries:read')
  @ApiOperation({ summary: "The institution's inquiries, newest first" })
  @ApiOkResponse({ type: InquiryListView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED')
  async list(@Query() query: ListInquiriesQuery, @CurrentInstitution() caller: InstitutionPrincipal): Promise<InquiryListView> {
    return { items: await this.inquiries.list(caller, query.limit ?? DEFAULT_LIST_LIMIT, query.status) };
  }

  @Get(':id')
  @RequireScopes('inquiries:read')
  @ApiOperation({
    summary: 'Status, progress and, per institution, found (with accounts), not-found, unreachable or pending',
    description: "Only the requesting institution sees its inquiries; any other id answers 404.",
  })
  @ApiOkResponse({ type: InquiryView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND')
  get(
    @Param('id') id: string,
    @CurrentInstitution() caller: InstitutionPrincipal,
    @Req() request: FastifyRequest,
  ): Promise<InquiryView> {
    return this.inquiries.get(caller, id, auditActor(caller, request));
  }
}
