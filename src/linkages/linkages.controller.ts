import { applyDecorators, Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { auditActor } from '../audit/audit-actor.js';
import { CurrentInstitution, RequireScopes } from '../auth/auth.decorators.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { IdempotencyService } from '../idempotency/idempotency.service.js';
import { CreateLinkageDto } from './dto/create-linkage.dto.js';
import { FindLinkagesQuery } from './dto/find-linkages.query.js';
import { AttachmentView, LinkageListView, LinkageView } from './dto/linkage.view.js';
import { RevokeLinkageDto } from './dto/revoke-linkage.dto.js';
import { LinkagesService } from './linkages.service.js';
import { Teller, type TellerHeaders } from './teller-headers.decorator.js';

const ApiTellerHeaders = () =>
  applyDecorators(
    ApiHeader({ name: 'X-Branch-Code', required: false, description: "Teller's branch, for the audit trail" }),
    ApiHeader({ name: 'X-Operator-Id', required: false, description: "Teller's id, for the audit trail" }),
  );

@ApiTags('linkages')
@ApiBearerAuth()
@Controller('v1/linkages')
export class LinkagesController {
  constructor(private readonly linkages: LinkagesService) {}

  @Post()
  @RequireScopes('linkages:write')
  @ApiOperation({
    summary: "Attach a depositor's My Number to accounts",
    description:
      'The institution is the API key\'s. Accounts already linked to the same number are returned with `alreadyLinked: true`; ' +
      'an account linked to another number refuses the whole request. When the institution has an account register, each ' +
      'listed account must be in it, open, and held by the subject (kana name and birth date); `accounts: "all"` links every ' +
      "open account of the subject's one customer number in the register. `Idempotency-Key` is honoured: the same key and body " +
      'replay the first answer (`Idempotent-Replayed: true`), the same key with another body is refused.',
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '1-255 printable ASCII characters, kept 24 hours' })
  @ApiCreatedResponse({ type: AttachmentView })
  @ApiProblems(
    'MALFORMED_JSON',
    'INVALID_IDEMPOTENCY_KEY',
    'UNAUTHENTICATED',
    'FORBIDDEN_SCOPE',
    'ACCOUNT_LINKED_TO_OTHER_SUBJECT',
    'SUBJECT_BIRTH_DATE_MISMATCH',
    'ACCOUNT_CLOSED',
    'ACCOUNT_HOLDER_MISMATCH',
    'REGISTER_HOLDER_AMBIGUOUS',
    'PAYLOAD_TOO_LARGE',
    'UNSUPPORTED_MEDIA_TYPE',
    'VALIDATION_FAILED',
    'INVALID_MY_NUMBER',
    'IDEMPOTENCY_KEY_REUSED',
    'ACCOUNT_NOT_IN_REGISTER',
    'REGISTER_REQUIRED',
    'NO_ACCOUNTS_IN_REGISTER',
  )
  async attach(
    @Body() dto: CreateLinkageDto,
    @Headers('idempotency-key') idempotencyHeader: string | undefined,
    @CurrentInstitution() caller: InstitutionPrincipal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AttachmentView> {
    const idempotencyKey = IdempotencyService.parseKey(idempotencyHeader);
    const actor = auditActor(caller, request, { branchCode: dto.branchCode, operatorId: dto.operatorId });
    const result = await this.linkages.attach(caller, dto, idempotencyKey, actor);
    void reply.status(result.status);
    IdempotencyService.markReplayed(reply, result.replayed);
    return result.body;
  }

  @Get()
  @RequireScopes('linkages:read')
  @ApiOperation({ summary: 'Find the linkages of an account', description: 'Active and revoked, newest first.' })
  @ApiTellerHeaders()
  @ApiOkResponse({ type: LinkageListView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED', 'RECORD_INTEGRITY_FAILED')
  async find(
    @Query() query: FindLinkagesQuery,
    @Teller() teller: TellerHeaders,
    @CurrentInstitution() caller: InstitutionPrincipal,
    @Req() request: FastifyRequest,
  ): Promise<LinkageListView> {
    return { items: await this.linkages.find(caller, query, auditActor(caller, request, teller)) };
  }

  @Get(':id')
  @RequireScopes('linkages:read')
  @ApiOperation({ summary: 'Read a linkage' })
  @ApiTellerHeaders()
  @ApiOkResponse({ type: LinkageView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND', 'VALIDATION_FAILED', 'RECORD_INTEGRITY_FAILED')
  get(
    @Param('id') id: string,
    @Teller() teller: TellerHeaders,
    @CurrentInstitution() caller: InstitutionPrincipal,
    @Req() request: FastifyRequest,
  ): Promise<LinkageView> {
    return this.linkages.get(caller, id, auditActor(caller, request, teller));
  }

  @Post(':id/revocation')
  @HttpCode(200)
  @RequireScopes('linkages:write')
  @ApiOperation({ operationId: 'revokeLinkage', summary: 'Revoke a linkage', description: 'The row is kept, with its status, reason and who revoked it.' })
  @ApiOkResponse({ type: LinkageView })
  @ApiProblems(
    'MALFORMED_JSON',
    'UNAUTHENTICATED',
    'FORBIDDEN_SCOPE',
    'NOT_FOUND',
    'LINKAGE_ALREADY_REVOKED',
    'VALIDATION_FAILED',
    'RECORD_INTEGRITY_FAILED',
  )
  revoke(
    @Param('id') id: string,
    @Body() dto: RevokeLinkageDto,
    @CurrentInstitution() caller: InstitutionPrincipal,
    @Req() request: FastifyRequest,
  ): Promise<LinkageView> {
    return this.linkages.revoke(caller, id, dto, auditActor(caller, request, dto));
  }
}
