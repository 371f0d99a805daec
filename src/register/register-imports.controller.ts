import { Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { DEFAULT_LIST_LIMIT } from '../common/validation/list-limit.js';
import { auditActor } from '../audit/audit-actor.js';
import { CurrentInstitution, RequireScopes } from '../auth/auth.decorators.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import {
  ListRegisterImportsQuery,
  RegisterImportListView,
  RegisterImportQuery,
  RegisterImportView,
} from './dto/register-import.view.js';
import { RegisterImportsService } from './register-imports.service.js';
import { AcceptsBody } from '../http/request-body.js';

export const REGISTER_IMPORTS_PATH = '/v1/register-imports';

@ApiTags('account register')
@ApiBearerAuth()
@Controller('v1/register-imports')
export class RegisterImportsController {
  constructor(private readonly imports: RegisterImportsService) {}

  @Post()
  @AcceptsBody('register')
  @HttpCode(202)
  @RequireScopes('register:write')
  @ApiOperation({
    summary: "Upload the institution's account register (CSV or NDJSON) for import",
    description:
      'The body is the file itself: `text/csv` (charset utf-8 or shift_jis; none = detected) or `application/x-ndjson`. ' +
      'A body whose first bytes show it is not a register answers 422 REGISTER_FILE_REFUSED; otherwise 202 and a job to poll. ' +
      'One upload per institution at a time: another while one is queued or running answers 409 REGISTER_IMPORT_IN_PROGRESS; ' +
      'one over REGISTER_SPOOL_MAX_BYTES_PER_INSTITUTION answers 413 REGISTER_SPOOL_FULL.',
  })
  @ApiConsumes('text/csv', 'application/x-ndjson')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiAcceptedResponse({ type: RegisterImportView, headers: { Location: { description: 'The import', schema: { type: 'string' } } } })
  @ApiProblems(
    'UNAUTHENTICATED',
    'FORBIDDEN_SCOPE',
    'VALIDATION_FAILED',
    'REGISTER_FILE_REFUSED',
    'REGISTER_IMPORT_IN_PROGRESS',
    'PAYLOAD_TOO_LARGE',
    'REGISTER_SPOOL_FULL',
    'UNSUPPORTED_MEDIA_TYPE',
  )
  async upload(
    @Query() query: RegisterImportQuery,
    @CurrentInstitution() caller: InstitutionPrincipal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RegisterImportView> {
    const length = request.headers['content-length'];
    const view = await this.imports.upload(
      caller,
      query.mode,
      request.headers['content-type'],
      length !== undefined && /^\d+$/.test(length) ? Number(length) : null,
      request.body as Readable | undefined,
      auditActor(caller, request),
    );
    void reply.header('location', `${REGISTER_IMPORTS_PATH}/${view.id}`);
    return view;
  }

  @Get()
  @RequireScopes('register:read')
  @ApiOperation({ summary: "The institution's register imports, newest first" })
  @ApiOkResponse({ type: RegisterImportListView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED')
  async list(@Query() query: ListRegisterImportsQuery, @CurrentInstitution() caller: InstitutionPrincipal): Promise<RegisterImportListView> {
    return { items: await this.imports.list(caller, query.limit ?? DEFAULT_LIST_LIMIT) };
  }

  @Get(':id')
  @RequireScopes('register:read')
  @ApiOperation({
    summary: 'Status, progress, counts and the first row errors of a register import',
    description: "Only the importing institution sees its imports; any other id answers 404.",
  })
  @ApiOkResponse({ type: RegisterImportView })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'NOT_FOUND')
  get(@Param('id') id: string, @CurrentInstitution() caller: InstitutionPrincipal): Promise<RegisterImportView> {
    return this.imports.get(caller, id);
  }
}
