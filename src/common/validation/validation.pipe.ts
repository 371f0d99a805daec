import { ArgumentMetadata, ValidationPipe } from '@nestjs/common';
import { getMetadataStorage, ValidationError, ValidatorOptions } from 'class-validator';
import type { FieldErrorCode } from '../errors/error-codes.js';
import { containsMyNumberLike } from '../my-number/my-number.js';
import { DomainError, FieldError, ValidationFailed } from '../errors/domain-error.js';

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

const isObjectItem = (item: unknown) => item !== null && typeof item === 'object' && !Array.isArray(item);

/**
 * class-validator's `@ValidateNested({ each: true })` walks an array inside the array
 * as if it were the list itself, so `accounts: [[]]` passed validation (and the
 * service then failed on an array where it expected an account: a 500). Every item
 * of a nested list must be an object: arrays among them are INVALID_TYPE at
 * `list[i]`. (null and scalars class-validator already refuses.) Walks the validated
 * DTO tree by class-validator's own metadata, so no DTO has to say it.
 */
export function nestedListItemErrors(object: object): ValidationError[] {
  const errors: ValidationError[] = [];
  const metadatas = getMetadataStorage().getTargetValidationMetadatas(object.constructor, '', true, false);
  const nested = new Set(metadatas.filter((m) => m.type === 'nestedValidation').map((m) => m.propertyName));
  for (const property of nested) {
    const value = (object as Record<string, unknown>)[property];
    const items = Array.isArray(value) ? value : isObjectItem(value) ? [value] : [];
    const children: ValidationError[] = [];
    items.forEach((item, index) => {
      if (Array.isArray(value) && Array.isArray(item)) {
        children.push(
          Object.assign(new ValidationError(), {
            property: String(index),
            value: item,
            constraints: { isObject: 'must be an object' },
            children: [],
          }),
        );
      } else if (isObjectItem(item)) {
        const below = nestedListItemErrors(item as object);
        if (below.length === 0) return;
        if (Array.isArray(value)) {
          children.push(Object.assign(new ValidationError(), { property: String(index), children: below }));
        } else children.push(...below);
      }
    });
    if (children.length > 0) errors.push(Object.assign(new ValidationError(), { property, children }));
  }
  return errors;
}

const PROTOTYPE_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * Members named like Object.prototype's (`constructor`, `hasOwnProperty`, `toString`...)
 * at any depth. class-transformer skips them silently (they are functions on the
 * instance), so the whitelist never saw them and a body with `"toString": 1` was
 * accepted; they are unknown fields like any other. (`__proto__` and
 * `constructor.prototype` the JSON parser already refuses.)
 */
export function prototypeNameErrors(value: unknown, parent = ''): FieldError[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((item, i) => prototypeNameErrors(item, `${parent}[${i}]`));
  return Object.keys(value).flatMap((key) => {
    // A member's name is the caller's text: it may itself be a My Number.
    const name = containsMyNumberLike(key) ? '[redacted]' : key;
    const path = parent ? `${parent}.${name}` : name;
    return PROTOTYPE_NAMES.has(key)
      ? [{ path, code: 'UNKNOWN_FIELD' as const, message: `${path} is not a known field` }]
      : prototypeNameErrors((value as Record<string, unknown>)[key], path);
  });
}

/**
 * Lists longer than their `@ArrayMaxSize`, found before class-validator runs: it would
 * validate (and report) every item of a list it then refuses for its length, which
 * for 5000 empty objects took seconds of CPU. When one is too long, only that is
 * reported (TOO_MANY at the list), and nothing else is validated. Run on the body as
 * parsed (the DTO's own lists, before class-transformer copies every item) and on the
 * DTO tree (the lists of nested DTOs).
 */
export function oversizedListErrors(object: object, type: Function = object.constructor): ValidationError[] {
  const errors: ValidationError[] = [];
  const metadatas = getMetadataStorage().getTargetValidationMetadatas(type, '', true, false);
  for (const m of metadatas) {
    if (m.name !== 'arrayMaxSize' || m.each) continue;
    const value = (object as Record<string, unknown>)[m.propertyName];
    const max = Number(m.constraints?.[0]);
    if (Array.isArray(value) && value.length > max) {
      errors.push(
        Object.assign(new ValidationError(), {
          property: m.propertyName,
          value,
          constraints: { arrayMaxSize: `${m.propertyName} must contain no more than ${max} elements` },
          contexts: m.context ? { arrayMaxSize: m.context } : undefined,
          children: [],
        }),
      );
    }
  }
  if (errors.length > 0) return errors;
  for (const m of metadatas) {
    if (m.type !== 'nestedValidation') continue;
    const value = (object as Record<string, unknown>)[m.propertyName];
    for (const item of Array.isArray(value) ? value : [value]) {
      if (isObjectItem(item)) {
        const below = oversizedListErrors(item as object);
        if (below.length > 0) return below.map((e) => Object.assign(new ValidationError(), { property: m.propertyName, children: [e] }));
      }
    }
  }
  return [];
}

/**
 * `@IsOptional()` skips every rule of a field that is null as well as absent, so a JSON
 * `null` reached the services as a value no rule had looked at (`cursor: null` on
 * POST /v1/access-history was a 500). An optional field is left out, never null,
 * unless its schema says `nullable: true`. Walks the DTO tree by class-validator's
 * metadata, so no DTO has to say it.
 */
export function nullOptionalErrors(object: object): ValidationError[] {
  const errors: ValidationError[] = [];
  const metadatas = getMetadataStorage().getTargetValidationMetadatas(object.constructor, '', true, false);
  const record = object as Record<string, unknown>;
  for (const m of metadatas) {
    if (m.name !== 'isOptional' || record[m.propertyName] !== null) continue;
    const documented = Reflect.getMetadata('swagger/apiModelProperties', object.constructor.prototype as object, m.propertyName) as
      | { nullable?: boolean }
      | undefined;
    if (documented?.nullable) continue;
    errors.push(
      Object.assign(new ValidationError(), {
        property: m.propertyName,
        value: null,
        constraints: { isDefined: 'must be left out rather than null' },
        contexts: { isDefined: { code: 'INVALID_TYPE' } },
        children: [],
      }),
    );
  }
  for (const m of metadatas) {
    if (m.type !== 'nestedValidation') continue;
    const value = record[m.propertyName];
    const items = Array.isArray(value) ? value : [value];
    items.forEach((item, index) => {
      if (!isObjectItem(item)) return;
      const below = nullOptionalErrors(item as object);
      if (below.length === 0) return;
      const child = Array.isArray(value) ? [Object.assign(new ValidationError(), { property: String(index), children: below })] : below;
      errors.push(Object.assign(new ValidationError(), { property: m.propertyName, children: child }));
    });
  }
  return errors;
}

/** Bodies are JSON objects; class-validator would otherwise report an array's items as unknown fields. */
class ApiValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // Only the JSON parser makes plain objects. Another parser's body (the register
    // upload's raw stream, when an empty body is sent as text/csv to a JSON route) would
    // be walked by class-transformer, which constructs what it finds in it: a socket
    // handle, and the process aborted.
    if (metadata.type === 'body' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const prototype = Object.getPrototypeOf(value) as unknown;
      if (prototype !== Object.prototype && prototype !== null) throw new DomainError('UNSUPPORTED_MEDIA_TYPE');
    }
    if (metadata.type === 'body' && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      throw new ValidationFailed([{ path: '', code: 'INVALID_TYPE', message: 'the request body must be a JSON object' }]);
    }
    if (metadata.type === 'body' || metadata.type === 'query') {
      const refused = prototypeNameErrors(value);
      if (refused.length > 0) throw new ValidationFailed(refused);
    }
    if (metadata.type === 'body' && typeof metadata.metatype === 'function') {
      const oversized = oversizedListErrors(value as object, metadata.metatype);
      if (oversized.length > 0) throw this.exceptionFactory(oversized);
    }
    return super.transform(value, metadata);
  }

  protected override async validate(object: object, validatorOptions?: ValidatorOptions): Promise<ValidationError[]> {
    const oversized = oversizedListErrors(object);
    if (oversized.length > 0) return oversized;
    const errors = await super.validate(object, validatorOptions);
    return [...errors, ...nestedListItemErrors(object), ...nullOptionalErrors(object)];
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
