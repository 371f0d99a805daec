import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { FieldError, ValidationFailed } from '../common/errors/domain-error.js';
import { containsMyNumberLike } from '../common/my-number/my-number.js';
import { BRANCH_CODE_PATTERN, OPERATOR_ID_PATTERN, OPERATOR_ID_RULE } from './dto/field-rules.js';

export interface TellerHeaders {
  branchCode?: string;
  operatorId?: string;
}

/**
 * Reads carry no body, so the teller's branch and id travel, optionally, as
 * `X-Branch-Code` and `X-Operator-Id` headers, for the audit trail.
 */
export const Teller = createParamDecorator((_: unknown, ctx: ExecutionContext): TellerHeaders => {
  const headers = ctx.switchToHttp().getRequest<FastifyRequest>().headers;
  const branchCode = headers['x-branch-code'];
  const operatorId = headers['x-operator-id'];
  const errors: FieldError[] = [];
  if (branchCode !== undefined && (typeof branchCode !== 'string' || !BRANCH_CODE_PATTERN.test(branchCode))) {
    errors.push({ path: 'header:X-Branch-Code', code: 'INVALID_FORMAT', message: 'X-Branch-Code must be 3 digits' });
  }
  if (
    operatorId !== undefined &&
    (typeof operatorId !== 'string' || !OPERATOR_ID_PATTERN.test(operatorId) || containsMyNumberLike(operatorId))
  ) {
    errors.push({ path: 'header:X-Operator-Id', code: 'INVALID_FORMAT', message: `X-Operator-Id ${OPERATOR_ID_RULE}` });
  }
  if (errors.length > 0) throw new ValidationFailed(errors);
  return { branchCode: branchCode as string | undefined, operatorId: operatorId as string | undefined };
});
