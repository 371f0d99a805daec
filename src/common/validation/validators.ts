import { applyDecorators } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsDefined, IsObject, registerDecorator, ValidateNested, ValidationOptions } from 'class-validator';
import type { FieldErrorCode } from '../errors/error-codes.js';
import { isKanaName } from '../kana/kana-name.js';
import { containsMyNumberLikeEscaped, isValidMyNumber } from '../my-number/my-number.js';
import { normalizeMunicipalityCode } from '../municipality/municipality-code.js';

/** Attaches the field error code a constraint reports (read by the validation pipe). */
export const withCode = (code: FieldErrorCode, options?: ValidationOptions): ValidationOptions => ({
  ...options,
  context: { ...(options?.context as object), code },
});

function rule(
  name: string,
  code: FieldErrorCode,
  message: string,
  validate: (value: unknown) => boolean,
  options?: ValidationOptions,
): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message, ...withCode(code, options) },
      validator: { validate },
    });
}

/** Twelve ASCII digits with a valid check digit (a JSON string, never a number). */
export const IsMyNumber = (options?: ValidationOptions) =>
  rule('isMyNumber', 'INVALID_MY_NUMBER', 'must be 12 digits with a valid check digit', isValidMyNumber, options);

/** Full-width katakana or the Zengin half-width set; stored normalised. */
export const IsKanaName = (options?: ValidationOptions) =>
  rule(
    'isKanaName',
    'INVALID_KANA_NAME',
    'must be katakana (full-width, or the Zengin half-width set), at most 48 characters',
    isKanaName,
    options,
  );

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A calendar date `YYYY-MM-DD` that exists (no 2023-02-29). */
export function isCalendarDate(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const m = ISO_DATE.exec(value);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** Today's date in Japan, where the branches are, as `YYYY-MM-DD`. */
export function todayInJapan(now: Date = new Date()): string {
  return new Date(now.getTime() + 9 * 3600_000).toISOString().slice(0, 10);
}

export const IsCalendarDate = (options?: ValidationOptions) =>
  rule('isCalendarDate', 'INVALID_DATE', 'must be a real date, YYYY-MM-DD', isCalendarDate, options);

/** A real date before today (Japan time), not before 1900. */
export const IsPastDate = (options?: ValidationOptions) =>
  rule(
    'isPastDate',
    'DATE_NOT_IN_PAST',
    'must be a date in the past, from 1900-01-01',
    (value) => isCalendarDate(value) && value >= '1900-01-01' && value < todayInJapan(),
    options,
  );

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

export function isIsoDateTime(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    ISO_DATE_TIME.test(value) &&
    isCalendarDate(value.slice(0, 10)) &&
    !Number.isNaN(Date.parse(value))
  );
}

export const IsIsoDateTime = (options?: ValidationOptions) =>
  rule(
    'isIsoDateTime',
    'INVALID_DATE',
    'must be an ISO 8601 date-time with a time zone, e.g. 2026-04-01T10:15:00+09:00',
    isIsoDateTime,
    options,
  );

/** Clocks of branch systems drift; a minute ahead of ours is still "now". */
export const CLOCK_SKEW_MS = 60_000;

export const IsNotInFuture = (options?: ValidationOptions) =>
  rule(
    'isNotInFuture',
    'DATE_IN_FUTURE',
    'must not be in the future',
    (value) => !isIsoDateTime(value) || Date.parse(value) <= Date.now() + CLOCK_SKEW_MS,
    options,
  );

/**
 * Free-text fields must not carry a My Number: a teller who types one into a note
 * would otherwise put it in the database in clear. Any spelling MY_NUMBER_LIKE knows
 * (full-width, in groups), in the text as sent or URL-decoded (a URL field, a pasted
 * link), whatever its check digit.
 */
export const HasNoMyNumber = (options?: ValidationOptions) =>
  rule(
    'hasNoMyNumber',
    'CONTAINS_MY_NUMBER',
    'must not contain a 12-digit number',
    (value) => typeof value !== 'string' || !containsMyNumberLikeEscaped(value),
    options,
  );

/** A JIS X 0402 municipality code: 6 digits with a valid check digit, or 5 without. */
export const IsMunicipalityCode = (options?: ValidationOptions) =>
  rule(
    'isMunicipalityCode',
    'INVALID_FORMAT',
    'must be a JIS X 0402 municipality code: 6 digits with its check digit, or 5 digits',
    (value) => normalizeMunicipalityCode(value) !== null,
    options,
  );

/** A required nested object, validated by its own class (`type`). */
export const IsNestedObject = (type: () => new () => object) =>
  applyDecorators(IsDefined(), IsObject(withCode('INVALID_TYPE')), ValidateNested(), Type(type));
