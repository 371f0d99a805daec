import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireScopes } from '../auth/auth.decorators.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { AuditVerificationDto } from './dto/audit-verification.dto.js';
import { AuditVerifier } from './audit-verifier.js';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/audit')
export class AuditController {
  constructor(private readonly verifier: AuditVerifier) {}

  @Get('verification')
  @RequireScopes('admin:audit')
  @ApiOperation({
    operationId: 'verifyAuditChain',
    summary: 'Verify the audit hash chain',
    description:
      'Recomputes every link of the chain from the rows as they are now and reports edited, deleted or unsealed rows. Operator key only.',
  })
  @ApiOkResponse({ type: AuditVerificationDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE')
  verify(): Promise<AuditVerificationDto> {
    return this.verifier.verify();
  }
}
