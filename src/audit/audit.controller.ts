import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireScopes } from '../auth/auth.decorators.js';
import { ApiProblems } from '../common/openapi/api-problems.decorator.js';
import { AuditVerificationDto } from './dto/audit-verification.dto.js';
import { AuditCheckpoints } from './audit-checkpoints.service.js';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/audit')
export class AuditController {
  constructor(private readonly checkpoints: AuditCheckpoints) {}

  @Get('verification')
  @RequireScopes('admin:audit')
  @ApiOperation({
    operationId: 'verifyAuditChain',
    summary: 'Verify the audit hash chain',
    description:
      'Recomputes every link of the chain from the rows as they are now and reports edited, deleted or unsealed rows; ' +
      'then checks the chain against the newest signed checkpoint of the checkpoint log (AUDIT_CHECKPOINT_FILE) and of ' +
      'each peer node (witness): a chain shorter than a checkpoint, or with another hash at its seq, was cut or rewritten. ' +
      'Operator key only.',
  })
  @ApiOkResponse({ type: AuditVerificationDto })
  @ApiProblems('UNAUTHENTICATED', 'FORBIDDEN_SCOPE')
  verify(): Promise<AuditVerificationDto> {
    return this.checkpoints.verify();
  }
}
