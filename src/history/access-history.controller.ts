import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { auditActor } from '../audit/audit-actor.js';
import { CurrentInstitution, RequireScopes } from '../auth/auth.decorators.js';
import type { InstitutionPrincipal } from '../auth/principal.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { AccessHistoryService } from './access-history.service.js';
import { AccessHistoryRequestDto } from './dto/access-history.dto.js';
import { AccessHistoryView } from './dto/access-history.view.js';

@ApiTags('access history')
@ApiBearerAuth()
@Controller('v1/access-history')
export class AccessHistoryController {
  constructor(private readonly history: AccessHistoryService) {}

  /** POST: the number travels in the body, never in a URL. */
  @Post()
  @HttpCode(200)
  @RequireScopes('history:read')
  @ApiOperation({
    operationId: 'getAccessHistory',
    summary: "The depositor's access history: who handled their number on this node, when and why",
    description:
      'Asked at a branch of any hosted institution, with how the identity was verified. Lists every audited event ' +
      'about the number at every institution hosted here (attached, read, found by account, revoked, inquiries about ' +
      'it, peer queries answered, numbering), newest first, `limit` per page (≤ 200) and `nextCursor` for older ones. ' +
      'A number never seen here (or recorded with another birth date) answers an empty list. The request is audited and ' +
      'shows in the next history.',
  })
  @ApiOkResponse({ type: AccessHistoryView })
  @ApiProblems('MALFORMED_JSON', 'UNAUTHENTICATED', 'FORBIDDEN_SCOPE', 'VALIDATION_FAILED', 'INVALID_MY_NUMBER')
  read(
    @Body() dto: AccessHistoryRequestDto,
    @CurrentInstitution() caller: InstitutionPrincipal,
    @Req() request: FastifyRequest,
  ): Promise<AccessHistoryView> {
    return this.history.read(dto, auditActor(caller, request, { branchCode: dto.branchCode, operatorId: dto.operatorId }));
  }
}
