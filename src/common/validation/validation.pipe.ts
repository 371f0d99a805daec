import { ArgumentMetadata, ValidationPipe } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import type { FieldErrorCode } from '../errors/error-codes.js';
import { containsMyNumberLike } from '../my-number/my-number.js';
import { FieldError, ValidationFailed } from '../errors/domain-error.js';

/** Codes for class-validator's built-in constraints (ours carry theirs in `context`). */
const BUILTIN_CODES: Record<string, FieldErrorCode> = {
  whitelistValidation: 'UNKNOWN_FIELD',
  isDefined: 'REQUIRED',
  isNotEmpty: 'REQUIRED',
  isString: 'INVALID_TYPE',
  isInt: 'INVALID_TYPE',
  isBoolean: 'INVALID_TYPE',
  isArray: 'INVALID_TYPE',
  isObject: 'INVALID_TYPE',
  nestedValidation: 'INVALID_TYPE',
  isIn: 'INVALID_VALUE',
  isEnum: 'INVALID_VALUE',
  matches: 'INVALID_FORMAT',
  isUrl: 'INVALID_FORMAT',
  isUUID: 'INVALID_FORMAT',
  length: 'INVALID_FORMAT',
  minLength: 'INVALID_FORMAT',
  maxLength: 'INVALID_FORMAT',
  arrayMinSize: 'TOO_FEW',
  arrayMaxSize: 'TOO_MANY',
  arrayUnique: 'DUPLICATE',
};

const RANKS: Partial<Record<FieldErrorCode, number>> = {
  UNKNOWN_FIELD: 0,
  REQUIRED: 0,
  INVALID_TYPE: 1,
  INVALID_FORMAT: 2,
  INVALID_DATE: 2,
  INVALID_MY_NUMBER: 2,
  INVALID_KANA_NAME: 2,
};
const rank = (code: FieldErrorCode) => RANKS[code] ?? 3;

function joinPath(parent: string, property: string): string {
  if (/^\d+$/.test(property)) return `${parent}[${property}]`;
  return parent ? `${parent}.${property}` : property;
}

/**
 * Turns class-validator's tree into flat field errors: one per field (the most telling
 * constraint), with a path and a code, and never the value that was sent.
 */
export function toFieldErrors(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const constraints = Object.keys(error.constraints ?? {});
    // An unknown field's name is the caller's text: it may itself be a My Number.
    const unknownField = constraints.includes('whitelistValidation');
    const property = containsMyNumberLike(error.property) ? '[redacted]' : error.property;
    const path = unknownField ? (parent ? `${parent}.${property}` : property) : joinPath(parent, property);
    if (constraints.length > 0) {
      // One error per field: the most basic thing wrong with it (missing before
      // malformed before out of range), so a caller fixes one thing at a time.
      const codeOf = (constraint: string): FieldErrorCode =>
        (error.contexts?.[constraint] as { code?: FieldErrorCode } | undefined)?.code ??
        BUILTIN_CODES[constraint] ??
        'INVALID_VALUE';
      const chosen = constraints.reduce((best, c) => (rank(codeOf(c)) < rank(codeOf(best)) ? c : best));
      const code: FieldErrorCode =
        error.value === undefined && chosen !== 'whitelistValidation' ? 'REQUIRED' : codeOf(chosen);
      const raw = error.constraints![chosen];
      const message =
        code === 'REQUIRED'
          ? `${path} is required`
          : raw.startsWith(`${error.property} `)
            ? path + raw.slice(error.property.length)
            : `${path} ${raw}`;
      out.push({ path, code, message: code === 'UNKNOWN_FIELD' ? `${path} is not a known field` : message });
    }
    if (error.children?.length) out.push(...toFieldErrors(error.children, path));
  }
  return out;
}

/** Bodies are JSON objects; class-validator would otherwise report an array's items as unknown fields. */
class ApiValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      throw new ValidationFailed([{ path: '', code: 'INVALID_TYPE', message: 'the request body must be a JSON object' }]);
    }
    return super.transform(value, metadata);
  }
}

/** The one validation pipe: DTO classes only, unknown fields refused, values never echoed. */
export function createValidationPipe(): ValidationPipe {
  return new ApiValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: true },
    stopAtFirstError: false,
    exceptionFactory: (errors) => {
      const fieldErrors = toFieldErrors(errors);
      return new ValidationFailed(
        fieldErrors.length > 0 ? fieldErrors : [{ path: '', code: 'INVALID_TYPE', message: 'the body must be a JSON object' }],
      );
    },
  });
}
