import { randomUUID } from 'node:crypto';
import { isKanaName } from '../common/kana/kana-name.js';
import { containsMyNumberLike, containsTwelveDigitRun, isValidMyNumber } from '../common/my-number/my-number.js';
import { isCalendarDate, isIsoDateTime } from '../common/validation/validators.js';
import { ACCOUNT_NUMBER_PATTERN, BRANCH_CODE_PATTERN, OPERATOR_ID_PATTERN } from '../linkages/dto/field-rules.js';
import { ACCOUNT_TYPES, IDENTITY_DOCUMENTS, NUMBER_DOCUMENTS, type AccountType } from '../linkages/linkage.types.js';
import { EnvelopeError, NODE_ID_PATTERN } from './envelope.js';

/**
 * The messages of the protocol (a location-query and its location-answer, a
 * numbering-notice and its numbering-result), and strict validators for them: a peer's message
 * is untrusted input, so anything not exactly of this shape is refused. Refusals name
 * the offending path, never a value (a value may be a My Number).
 */

export type PeerPurpose = 'inheritance' | 'disaster';
export const PEER_PURPOSES: readonly PeerPurpose[] = ['inheritance', 'disaster'];

export interface LocationQuery {
  ref: string;
  myNumber: string;
  deceased?: boolean;
}

/** The JWT-style claims every peer message carries: sender, recipient, id and lifetime (NumericDate seconds). */
export interface MessageClaims {
  iss: string;
  aud: string;
  jti: string;
  iat: number;
  exp: number;
}

/** A reply's claims: those of every message, and the jti of the message it answers. */
export interface ReplyClaims extends MessageClaims {
  inReplyTo: string;
}

export interface LocationQueryMessage extends MessageClaims {
  typ: 'location-query';
  purpose: PeerPurpose;
  queries: LocationQuery[];
}

export interface LocatedAccount {
  branchCode: string;
  accountType: AccountType;
  accountNumber: string;
}

export interface LocatedInstitution {
  code: string;
  accounts: LocatedAccount[];
}

export interface LocationAnswer {
  ref: string;
  institutions: LocatedInstitution[];
}

export interface LocationAnswerMessage extends ReplyClaims {
  typ: 'location-answer';
  answers: LocationAnswer[];
}

/** Queries in one message; concurrent inquiries travel together, but not without bound. */
export const MAX_QUERIES_PER_MESSAGE = 1000;
/** Accounts of one depositor at one institution that an answer may list. */
const MAX_ACCOUNTS_PER_INSTITUTION = 1000;
/** Institutions behind one node that an answer may list for one query. */
const MAX_INSTITUTIONS_PER_ANSWER = 2000;
const TOKEN = /^[\x21-\x7e]{1,128}$/;
export const INSTITUTION_CODE_PATTERN = /^[0-9]{4}$/;

type Json = Record<string, unknown>;

function invalid(path: string, rule: string): never {
  throw new EnvelopeError('malformed', `${path} ${rule}`);
}

function object(value: unknown, path: string, required: readonly string[], optional: readonly string[] = []): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(path, 'must be an object');
  const obj = value as Json;
  for (const key of Object.keys(obj)) {
    if (!required.includes(key) && !optional.includes(key)) invalid(`${path}.${key}`, 'is not allowed');
  }
  for (const key of required) {
    if (!(key in obj)) invalid(`${path}.${key}`, 'is required');
  }
  return obj;
}

function array(value: unknown, path: string, min: number, max: number): unknown[] {
  if (!Array.isArray(value)) invalid(path, 'must be an array');
  if (value.length < min || value.length > max) invalid(path, `must have ${min} to ${max} items`);
  return value;
}

function matching(value: unknown, path: string, pattern: RegExp, rule: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) invalid(path, rule);
  return value;
}

/** A ref: 1-128 visible ASCII characters, chosen by the querying node. */
const ref = (value: unknown, path: string) => matching(value, path, TOKEN, 'must be 1-128 visible ASCII characters');

/**
 * jti and inReplyTo: as a ref, and without a run of 12 digits, since a seen jti is
 * stored as it is and the database must never hold anything that may be a My Number.
 * (Senders redraw such an id; see newMessageId.)
 */
function messageId(value: unknown, path: string): string {
  const rule = 'must be 1-128 visible ASCII characters without a run of 12 digits';
  const text = matching(value, path, TOKEN, rule);
  if (containsTwelveDigitRun(text)) invalid(path, rule);
  return text;
}

/** A random message id (a UUID), redrawn in the rare case it holds a run of 12 digits. */
export function newMessageId(): string {
  for (;;) {
    const id = randomUUID();
    if (!containsTwelveDigitRun(id)) return id;
  }
}

function numericDate(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) invalid(path, 'must be a NumericDate (seconds)');
  return value;
}

function unique(values: string[], path: string): void {
  if (new Set(values).size !== values.length) invalid(path, 'must not repeat');
}

/** The members both messages share; `typ` is checked, the rest typed. */
function header(value: unknown, typ: string, extra: readonly string[]) {
  const obj = object(value, '$', ['typ', 'iss', 'aud', 'jti', 'iat', 'exp', ...extra]);
  if (obj.typ !== typ) invalid('$.typ', `must be "${typ}"`);
  return {
    obj,
    iss: matching(obj.iss, '$.iss', NODE_ID_PATTERN, 'must be a node id'),
    aud: matching(obj.aud, '$.aud', NODE_ID_PATTERN, 'must be a node id'),
    jti: messageId(obj.jti, '$.jti'),
    iat: numericDate(obj.iat, '$.iat'),
    exp: numericDate(obj.exp, '$.exp'),
  };
}

/** Throws EnvelopeError('malformed', path and rule) unless `value` is exactly a location-query. */
export function parseLocationQueryMessage(value: unknown): LocationQueryMessage {
  const { obj, iss, aud, jti, iat, exp } = header(value, 'location-query', ['purpose', 'queries']);
  if (!PEER_PURPOSES.includes(obj.purpose as PeerPurpose)) invalid('$.purpose', 'must be inheritance or disaster');
  const queries = array(obj.queries, '$.queries', 1, MAX_QUERIES_PER_MESSAGE).map((item, i): LocationQuery => {
    const path = `$.queries[${i}]`;
    const q = object(item, path, ['ref', 'myNumber'], ['deceased']);
    const query: LocationQuery = {
      ref: ref(q.ref, `${path}.ref`),
      myNumber: isValidMyNumber(q.myNumber) ? q.myNumber : invalid(`${path}.myNumber`, 'must be a valid My Number'),
    };
    if ('deceased' in q) {
      if (typeof q.deceased !== 'boolean') invalid(`${path}.deceased`, 'must be a boolean');
      query.deceased = q.deceased;
    }
    return query;
  });
  unique(queries.map((q) => q.ref), '$.queries[].ref');
  return { typ: 'location-query', iss, aud, jti, iat, exp, purpose: obj.purpose as PeerPurpose, queries };
}

function parseAccount(item: unknown, path: string): LocatedAccount {
  const a = object(item, path, ['branchCode', 'accountType', 'accountNumber']);
  if (!ACCOUNT_TYPES.includes(a.accountType as AccountType)) invalid(`${path}.accountType`, `must be one of ${ACCOUNT_TYPES.join(', ')}`);
  return {
    branchCode: matching(a.branchCode, `${path}.branchCode`, BRANCH_CODE_PATTERN, 'must be 3 digits'),
    accountType: a.accountType as AccountType,
    accountNumber: matching(a.accountNumber, `${path}.accountNumber`, ACCOUNT_NUMBER_PATTERN, 'must be 7 digits'),
  };
}

function parseInstitution(item: unknown, path: string): LocatedInstitution {
  const inst = object(item, path, ['code', 'accounts']);
  return {
    code: matching(inst.code, `${path}.code`, INSTITUTION_CODE_PATTERN, 'must be 4 digits'),
    // Only institutions where accounts were found are listed, so never an empty list.
    accounts: array(inst.accounts, `${path}.accounts`, 1, MAX_ACCOUNTS_PER_INSTITUTION).map((a, k) =>
      parseAccount(a, `${path}.accounts[${k}]`),
    ),
  };
}

/**
 * A reply (location-answer, numbering-result): the header, `inReplyTo`, and under `field`
 * one entry per ref, each with its institutions parsed by `parseInstitutionOf`; refs and,
 * within an entry, institution codes are unique.
 */
function parseReply<T extends string, I extends { code: string }>(
  value: unknown,
  typ: T,
  field: string,
  parseInstitutionOf: (value: unknown, path: string) => I,
) {
  const { obj, iss, aud, jti, iat, exp } = header(value, typ, ['inReplyTo', field]);
  const inReplyTo = messageId(obj.inReplyTo, '$.inReplyTo');
  const entries = array(obj[field], `$.${field}`, 0, MAX_QUERIES_PER_MESSAGE).map((item, i) => {
    const path = `$.${field}[${i}]`;
    const entry = object(item, path, ['ref', 'institutions']);
    const institutions = array(entry.institutions, `${path}.institutions`, 0, MAX_INSTITUTIONS_PER_ANSWER).map((inst, j) =>
      parseInstitutionOf(inst, `${path}.institutions[${j}]`),
    );
    unique(institutions.map((inst) => inst.code), `${path}.institutions[].code`);
    return { ref: ref(entry.ref, `${path}.ref`), institutions };
  });
  unique(entries.map((e) => e.ref), `$.${field}[].ref`);
  return { typ, iss, aud, jti, iat, exp, inReplyTo, entries };
}

/** Throws EnvelopeError('malformed', path and rule) unless `value` is exactly a location-answer. */
export function parseLocationAnswerMessage(value: unknown): LocationAnswerMessage {
  const { entries, ...reply } = parseReply(value, 'location-answer', 'answers', parseInstitution);
  return { ...reply, answers: entries };
}

/** Numbering at another institution (他行付番): the depositor asked at the origin that these targets number them. */
export interface NumberingNotice {
  ref: string;
  myNumber: string;
  nameKana: string;
  /** YYYY-MM-DD */
  birthDate: string;
  address: string;
  /** The target institutions behind the recipient. */
  institutions: string[];
  origin: { requestId: string; institutionCode: string; branchCode: string; operatorId: string };
  verification: { numberDocument: string; identityDocument: string };
  /** ISO 8601 */
  consentAt: string;
}

export interface NumberingNoticeMessage extends MessageClaims {
  typ: 'numbering-notice';
  purpose: 'numbering';
  notices: NumberingNotice[];
}

export const NUMBERING_STATUSES = ['attached', 'no-match', 'ambiguous'] as const;
export type NumberingStatus = (typeof NUMBERING_STATUSES)[number];

export interface NumberedInstitution {
  code: string;
  status: NumberingStatus;
  /** attached: how many accounts of the depositor now carry the number. */
  accounts?: number;
  /** A machine reason for no-match and ambiguous (e.g. no-candidate, several-customers). */
  reason?: string;
}

export interface NumberingResult {
  ref: string;
  institutions: NumberedInstitution[];
}

export interface NumberingResultMessage extends ReplyClaims {
  typ: 'numbering-result';
  results: NumberingResult[];
}

export const MAX_ADDRESS_LENGTH = 200;
const REASON = /^[a-z0-9-]{1,64}$/;

/** A free text that may hold no My Number (it is stored, and logged in refusals by path only). */
function text(value: unknown, path: string, max: number): string {
  const rule = `must be 1-${max} characters without a run of 12 digits`;
  if (typeof value !== 'string' || value.length < 1 || value.length > max || containsMyNumberLike(value)) invalid(path, rule);
  return value;
}

function oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) invalid(path, `must be one of ${allowed.join(', ')}`);
  return value as T;
}

function institutionCodes(value: unknown, path: string): string[] {
  const codes = array(value, path, 1, MAX_INSTITUTIONS_PER_ANSWER).map((code, k) =>
    matching(code, `${path}[${k}]`, INSTITUTION_CODE_PATTERN, 'must be 4 digits'),
  );
  unique(codes, path);
  return codes;
}

function parseNotice(item: unknown, path: string): NumberingNotice {
  const n = object(item, path, [
    'ref',
    'myNumber',
    'nameKana',
    'birthDate',
    'address',
    'institutions',
    'origin',
    'verification',
    'consentAt',
  ]);
  const origin = object(n.origin, `${path}.origin`, ['requestId', 'institutionCode', 'branchCode', 'operatorId']);
  const verification = object(n.verification, `${path}.verification`, ['numberDocument', 'identityDocument']);
  const operatorId = matching(origin.operatorId, `${path}.origin.operatorId`, OPERATOR_ID_PATTERN, 'must be an operator id');
  if (containsMyNumberLike(operatorId)) invalid(`${path}.origin.operatorId`, 'must not hold a run of 12 digits');
  return {
    ref: ref(n.ref, `${path}.ref`),
    myNumber: isValidMyNumber(n.myNumber) ? n.myNumber : invalid(`${path}.myNumber`, 'must be a valid My Number'),
    nameKana: isKanaName(n.nameKana) ? (n.nameKana as string) : invalid(`${path}.nameKana`, 'must be a kana name'),
    birthDate: isCalendarDate(n.birthDate) ? n.birthDate : invalid(`${path}.birthDate`, 'must be a date, YYYY-MM-DD'),
    address: text(n.address, `${path}.address`, MAX_ADDRESS_LENGTH),
    institutions: institutionCodes(n.institutions, `${path}.institutions`),
    origin: {
      requestId: messageId(origin.requestId, `${path}.origin.requestId`),
      institutionCode: matching(origin.institutionCode, `${path}.origin.institutionCode`, INSTITUTION_CODE_PATTERN, 'must be 4 digits'),
      branchCode: matching(origin.branchCode, `${path}.origin.branchCode`, BRANCH_CODE_PATTERN, 'must be 3 digits'),
      operatorId,
    },
    verification: {
      numberDocument: oneOf(verification.numberDocument, `${path}.verification.numberDocument`, NUMBER_DOCUMENTS),
      identityDocument: oneOf(verification.identityDocument, `${path}.verification.identityDocument`, IDENTITY_DOCUMENTS),
    },
    consentAt: isIsoDateTime(n.consentAt) ? n.consentAt : invalid(`${path}.consentAt`, 'must be an ISO 8601 date-time'),
  };
}

/** Throws EnvelopeError('malformed', path and rule) unless `value` is exactly a numbering-notice. */
export function parseNumberingNoticeMessage(value: unknown): NumberingNoticeMessage {
  const { obj, iss, aud, jti, iat, exp } = header(value, 'numbering-notice', ['purpose', 'notices']);
  if (obj.purpose !== 'numbering') invalid('$.purpose', 'must be numbering');
  const notices = array(obj.notices, '$.notices', 1, MAX_QUERIES_PER_MESSAGE).map((item, i) => parseNotice(item, `$.notices[${i}]`));
  unique(notices.map((n) => n.ref), '$.notices[].ref');
  return { typ: 'numbering-notice', iss, aud, jti, iat, exp, purpose: 'numbering', notices };
}

function parseNumbered(item: unknown, path: string): NumberedInstitution {
  const inst = object(item, path, ['code', 'status'], ['accounts', 'reason']);
  const result: NumberedInstitution = {
    code: matching(inst.code, `${path}.code`, INSTITUTION_CODE_PATTERN, 'must be 4 digits'),
    status: oneOf(inst.status, `${path}.status`, NUMBERING_STATUSES),
  };
  if (result.status === 'attached') {
    const n = inst.accounts;
    if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > MAX_ACCOUNTS_PER_INSTITUTION) {
      invalid(`${path}.accounts`, `must be an integer from 1 to ${MAX_ACCOUNTS_PER_INSTITUTION} when attached`);
    }
    result.accounts = n as number;
  } else if ('accounts' in inst) {
    invalid(`${path}.accounts`, 'is only allowed when attached');
  }
  if ('reason' in inst) result.reason = matching(inst.reason, `${path}.reason`, REASON, 'must be 1-64 of a-z 0-9 -');
  return result;
}

/** Throws EnvelopeError('malformed', path and rule) unless `value` is exactly a numbering-result. */
export function parseNumberingResultMessage(value: unknown): NumberingResultMessage {
  const { entries, ...reply } = parseReply(value, 'numbering-result', 'results', parseNumbered);
  return { ...reply, results: entries };
}
