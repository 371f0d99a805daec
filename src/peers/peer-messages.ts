import { randomUUID } from 'node:crypto';
import { isKanaName } from '../common/kana/kana-name.js';
import { containsMyNumberLike, containsTwelveDigitRun, isValidMyNumber } from '../common/my-number/my-number.js';
import { isCalendarDate, isIsoDateTime } from '../common/validation/validators.js';
import { ACCOUNT_NUMBER_PATTERN, BRANCH_CODE_PATTERN, OPERATOR_ID_PATTERN } from '../linkages/dto/field-rules.js';
import type { ErrorCode } from '../common/errors/error-codes.js';
import { DEATH_EVIDENCE } from '../inquiries/inquiry.types.js';
import { ACCOUNT_TYPES, IDENTITY_DOCUMENTS, NUMBER_DOCUMENTS, type AccountType } from '../linkages/linkage.types.js';
import { nameKey } from '../register/register-keys.js';
import { EnvelopeError, NODE_ID_PATTERN } from './envelope.js';

/**
 * The messages of the protocol (a location-query and its location-answer, a
 * numbering-notice and its numbering-result), and strict validators for them: a peer's message
 * is untrusted input, so anything not exactly of this shape is refused. Refusals name
 * the offending path, never a value (a value may be a My Number).
 */

export type PeerPurpose = 'inheritance' | 'disaster';
export const PEER_PURPOSES: readonly PeerPurpose[] = ['inheritance', 'disaster'];

/**
 * The version of the protocol, `v` in every message. Version 2 made a number alone
 * reveal nothing: queries carry the subject's name key and birth date, and a claim of
 * death carries its date and evidence. A message of another version (or none: nodes of
 * version 1 sent no `v`) is refused with PEER_PROTOCOL_VERSION_UNSUPPORTED rather than
 * misread.
 */
export const PROTOCOL_VERSION = 2;
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [PROTOCOL_VERSION];

/** A document evidencing a death, as an inheritance inquiry cites it. */
export interface DeathEvidence {
  type: (typeof DEATH_EVIDENCE)[number];
  reference: string;
}

/**
 * The querying node reports the subject dead (an heir's inquiry): only with purpose
 * `inheritance`, and only with the date of death and the evidence the heir brought.
 */
export interface DeceasedClaim {
  /** YYYY-MM-DD */
  dateOfDeath: string;
  evidence: DeathEvidence[];
}

export interface LocationQuery {
  ref: string;
  myNumber: string;
  /** The subject's name as matching compares it (nameKey: Zengin half-width, no spaces). */
  nameKey: string;
  /** YYYY-MM-DD */
  birthDate: string;
  deceased?: DeceasedClaim;
}

/**
 * A refusal of a message whose sender was authenticated (signature, aud, iss, exp
 * checked) that says why, with its own code: the sender can act on it, and it reveals
 * nothing to anyone else. Every other refusal stays PEER_MESSAGE_REFUSED.
 */
export class PeerMessageRefusal extends EnvelopeError {
  override name = 'PeerMessageRefusal';
  constructor(
    readonly code: ErrorCode,
    reason: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(reason, message);
  }
}

/** The JWT-style claims every peer message carries: sender, recipient, id and lifetime (NumericDate seconds). */
export interface MessageClaims {
  /** PROTOCOL_VERSION */
  v: number;
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

/** Evidence documents one claim of death may cite (as an inquiry's MAX_EVIDENCE). */
export const MAX_DEATH_EVIDENCE = 10;
const MAX_EVIDENCE_REFERENCE_LENGTH = 100;

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

/**
 * Refuses a message of another protocol version than this node's, before its shape
 * is looked at (a version 1 message has no `v`, and members version 2 requires).
 */
function checkVersion(value: unknown): void {
  // Not an object at all: object() refuses it as malformed.
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
  const v = (value as Json).v;
  if (typeof v === 'number' && SUPPORTED_PROTOCOL_VERSIONS.includes(v)) return;
  throw new PeerMessageRefusal(
    'PEER_PROTOCOL_VERSION_UNSUPPORTED',
    'unsupported-version',
    `$.v must be one of ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`,
    { supportedVersions: [...SUPPORTED_PROTOCOL_VERSIONS] },
  );
}

/** The members every message shares; `v` and `typ` are checked, the rest typed. */
function header(value: unknown, typ: string, extra: readonly string[]) {
  checkVersion(value);
  const obj = object(value, '$', ['v', 'typ', 'iss', 'aud', 'jti', 'iat', 'exp', ...extra]);
  if (obj.typ !== typ) invalid('$.typ', `must be "${typ}"`);
  return {
    obj,
    v: PROTOCOL_VERSION,
    iss: matching(obj.iss, '$.iss', NODE_ID_PATTERN, 'must be a node id'),
    aud: matching(obj.aud, '$.aud', NODE_ID_PATTERN, 'must be a node id'),
    jti: messageId(obj.jti, '$.jti'),
    iat: numericDate(obj.iat, '$.iat'),
    exp: numericDate(obj.exp, '$.exp'),
  };
}

/** A name key: what nameKey() gives for a kana name (the querying node normalises it). */
function nameKeyOf(value: unknown, path: string): string {
  if (typeof value !== 'string' || nameKey(value) !== value) invalid(path, 'must be a name key (Zengin half-width kana, no spaces)');
  return value;
}

function calendarDate(value: unknown, path: string): string {
  if (!isCalendarDate(value)) invalid(path, 'must be a date, YYYY-MM-DD');
  return value;
}

/**
 * `deceased` of a query: the date of death (not before the birth date) and 1 to
 * MAX_DEATH_EVIDENCE documents evidencing it, and only in an inheritance query. A
 * claim without them, or in a disaster query, is refused whole
 * (PEER_DECEASED_CLAIM_REFUSED): a peer is trusted to report a death for an heir's
 * inquiry, with what the heir brought, and for nothing else.
 */
function deceasedClaim(value: unknown, path: string, purpose: PeerPurpose, birthDate: string): DeceasedClaim {
  const refuse = (rule: string): never => {
    const message = rule.startsWith('.') ? `${path}${rule}` : `${path} ${rule}`;
    throw new PeerMessageRefusal('PEER_DECEASED_CLAIM_REFUSED', 'deceased-claim', message, { path });
  };
  if (purpose !== 'inheritance') refuse('is only taken in an inheritance query');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) refuse('must be {dateOfDeath, evidence}');
  const claim = value as Json;
  for (const key of Object.keys(claim)) if (key !== 'dateOfDeath' && key !== 'evidence') refuse(`.${key} is not allowed`);
  if (!isCalendarDate(claim.dateOfDeath) || claim.dateOfDeath < birthDate) refuse('.dateOfDeath must be a date, YYYY-MM-DD, not before the birth date');
  const evidence = claim.evidence;
  if (!Array.isArray(evidence) || evidence.length < 1 || evidence.length > MAX_DEATH_EVIDENCE) {
    refuse(`.evidence must list 1 to ${MAX_DEATH_EVIDENCE} documents`);
  }
  return {
    dateOfDeath: claim.dateOfDeath as string,
    evidence: (evidence as unknown[]).map((item, k): DeathEvidence => {
      const e = item as Json;
      const ok =
        typeof e === 'object' &&
        e !== null &&
        !Array.isArray(e) &&
        Object.keys(e).every((key) => key === 'type' || key === 'reference') &&
        DEATH_EVIDENCE.includes(e.type as DeathEvidence['type']) &&
        typeof e.reference === 'string' &&
        e.reference.length >= 1 &&
        e.reference.length <= MAX_EVIDENCE_REFERENCE_LENGTH &&
        !containsMyNumberLike(e.reference);
      if (!ok) {
        refuse(
          `.evidence[${k}] must be {type: ${DEATH_EVIDENCE.join(' | ')}, reference: 1-${MAX_EVIDENCE_REFERENCE_LENGTH} characters without a run of 12 digits}`,
        );
      }
      return { type: e.type as DeathEvidence['type'], reference: e.reference as string };
    }),
  };
}

function parseQuery(item: unknown, path: string, purpose: PeerPurpose): LocationQuery {
  const q = object(item, path, ['ref', 'myNumber', 'nameKey', 'birthDate'], ['deceased']);
  const query: LocationQuery = {
    ref: ref(q.ref, `${path}.ref`),
    myNumber: isValidMyNumber(q.myNumber) ? q.myNumber : invalid(`${path}.myNumber`, 'must be a valid My Number'),
    nameKey: nameKeyOf(q.nameKey, `${path}.nameKey`),
    birthDate: calendarDate(q.birthDate, `${path}.birthDate`),
  };
  if ('deceased' in q) query.deceased = deceasedClaim(q.deceased, `${path}.deceased`, purpose, query.birthDate);
  return query;
}

/**
 * Queries already checked for a purpose by checkedLocationQuery(): frozen, protocol members
 * only. A fan-out sends the same queries to every node; each is checked once, not once per
 * node. Only objects made here are in it (a parsed message's objects are new), so nothing
 * received can skip a check.
 */
const CHECKED_QUERIES = new WeakMap<LocationQuery, PeerPurpose>();

/**
 * A query as a peer will check it (parseLocationQueryMessage's rules for one query), with
 * only the protocol's members, frozen: put in any number of messages of that purpose
 * without being checked again. Throws EnvelopeError('malformed') as the parser does.
 */
export function checkedLocationQuery(query: LocationQuery, purpose: PeerPurpose): LocationQuery {
  const checked = deepFreeze(parseQuery(locationQueryMembers(query), '$.queries[]', purpose));
  CHECKED_QUERIES.set(checked, purpose);
  return checked;
}

/** Whether `query` came from checkedLocationQuery() for this purpose. */
export function isCheckedLocationQuery(query: LocationQuery, purpose: PeerPurpose): boolean {
  return CHECKED_QUERIES.get(query) === purpose;
}

/** Each checked query's JSON, made once: a fan-out puts the same query in a message to every node. */
const CHECKED_QUERY_JSON = new WeakMap<LocationQuery, string>();

/**
 * JSON.stringify(message), byte for byte, with each checked query's JSON made once
 * (checkedLocationQuery) rather than once per message: serialising a fan-out's queries
 * for each of its thousand nodes was a twentieth of the worker's time in a burst.
 */
export function locationQueryMessageJson(message: LocationQueryMessage): string {
  const { queries, ...head } = message;
  const parts = queries.map((q) => {
    if (!isCheckedLocationQuery(q, message.purpose)) return JSON.stringify(q);
    let json = CHECKED_QUERY_JSON.get(q);
    if (json === undefined) {
      json = JSON.stringify(q);
      CHECKED_QUERY_JSON.set(q, json);
    }
    return json;
  });
  return `${JSON.stringify(head).slice(0, -1)},"queries":[${parts.join(',')}]}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}

/**
 * Throws EnvelopeError('malformed', path and rule) unless `value` is exactly a
 * location-query (PeerMessageRefusal for another version or a claim of death without
 * its grounds). Queries from checkedLocationQuery() for the message's purpose are not
 * checked again (the refs' uniqueness is).
 */
export function parseLocationQueryMessage(value: unknown): LocationQueryMessage {
  const { obj, v, iss, aud, jti, iat, exp } = header(value, 'location-query', ['purpose', 'queries']);
  if (!PEER_PURPOSES.includes(obj.purpose as PeerPurpose)) invalid('$.purpose', 'must be inheritance or disaster');
  const purpose = obj.purpose as PeerPurpose;
  const queries = array(obj.queries, '$.queries', 1, MAX_QUERIES_PER_MESSAGE).map((item, i): LocationQuery =>
    isCheckedLocationQuery(item as LocationQuery, purpose) ? (item as LocationQuery) : parseQuery(item, `$.queries[${i}]`, purpose),
  );
  unique(queries.map((q) => q.ref), '$.queries[].ref');
  return { v, typ: 'location-query', iss, aud, jti, iat, exp, purpose, queries };
}

/** Only the members of the protocol of a query, whatever else the caller's object holds. */
export function locationQueryMembers(q: LocationQuery): LocationQuery {
  return {
    ref: q.ref,
    myNumber: q.myNumber,
    nameKey: q.nameKey,
    birthDate: q.birthDate,
    ...(q.deceased
      ? {
          deceased: {
            dateOfDeath: q.deceased.dateOfDeath,
            evidence: q.deceased.evidence.map((e) => ({ type: e.type, reference: e.reference })),
          },
        }
      : {}),
  };
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
  const { obj, v, iss, aud, jti, iat, exp } = header(value, typ, ['inReplyTo', field]);
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
  return { v, typ, iss, aud, jti, iat, exp, inReplyTo, entries };
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
  const { obj, v, iss, aud, jti, iat, exp } = header(value, 'numbering-notice', ['purpose', 'notices']);
  if (obj.purpose !== 'numbering') invalid('$.purpose', 'must be numbering');
  const notices = array(obj.notices, '$.notices', 1, MAX_QUERIES_PER_MESSAGE).map((item, i) => parseNotice(item, `$.notices[${i}]`));
  unique(notices.map((n) => n.ref), '$.notices[].ref');
  return { v, typ: 'numbering-notice', iss, aud, jti, iat, exp, purpose: 'numbering', notices };
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
