import { describe, expect, it } from '@jest/globals';
import { EnvelopeError } from './envelope.js';
import {
  checkedLocationQuery,
  isCheckedLocationQuery,
  locationQueryMessageJson,
  newMessageId,
  parseLocationAnswerMessage,
  parseLocationQueryMessage,
  parseNumberingNoticeMessage,
  parseNumberingResultMessage,
  PeerMessageRefusal,
} from './peer-messages.js';

const VALID_NUMBER = '123456789018';
const OTHER_VALID_NUMBER = '621498320257';

const SUBJECT = { nameKey: 'ﾔﾏﾀﾞﾀﾛｳ', birthDate: '1940-04-01' };
const DEATH = { dateOfDeath: '2026-10-01', evidence: [{ type: 'legal-heir-information', reference: 'HJ-1' }] };

const query = () => ({
  v: 2,
  typ: 'location-query',
  iss: 'node-a',
  aud: 'node-b',
  jti: '7f2c1d3e-0000-4000-8000-00000000a001',
  iat: 1_800_000_000,
  exp: 1_800_000_060,
  purpose: 'inheritance',
  queries: [
    { ref: 'inq-1', myNumber: VALID_NUMBER, ...SUBJECT, deceased: structuredClone(DEATH) as Record<string, any> },
    { ref: 'inq-2', myNumber: OTHER_VALID_NUMBER, ...SUBJECT } as Record<string, any>,
  ],
});

const answer = () => ({
  v: 2,
  typ: 'location-answer',
  iss: 'node-b',
  aud: 'node-a',
  jti: 'a-1',
  iat: 1_800_000_001,
  exp: 1_800_000_061,
  inReplyTo: '7f2c1d3e-0000-4000-8000-00000000a001',
  answers: [
    {
      ref: 'inq-1',
      institutions: [{ code: '0005', accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: '1234567' }] }],
    },
    { ref: 'inq-2', institutions: [] },
  ],
});

/** The refusal's message (path and rule), after checking it is a 'malformed' EnvelopeError. */
function refusal(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(EnvelopeError);
    expect((error as EnvelopeError).reason).toBe('malformed');
    return (error as EnvelopeError).message;
  }
  throw new Error('expected a refusal');
}

type Mutation = (m: Record<string, any>) => void;

describe('parseLocationQueryMessage', () => {
  it('accepts a well-formed query and returns exactly its members', () => {
    expect(parseLocationQueryMessage(query())).toEqual(query());
  });

  it.each<[string, Mutation, RegExp]>([
    ['an unknown top-level member', (m) => (m.extra = 1), /\$\.extra is not allowed/],
    ['a missing jti', (m) => delete m.jti, /\$\.jti is required/],
    ['another typ', (m) => (m.typ = 'location-answer'), /\$\.typ/],
    ['a non-string iss', (m) => (m.iss = 7), /\$\.iss/],
    ['an aud with a space', (m) => (m.aud = 'node b'), /\$\.aud/],
    ['an empty jti', (m) => (m.jti = ''), /\$\.jti/],
    ['a string exp', (m) => (m.exp = '1800000060'), /\$\.exp/],
    ['an unknown purpose', (m) => (m.purpose = 'curiosity'), /\$\.purpose/],
    ['no queries', (m) => (m.queries = []), /\$\.queries must have 1/],
    ['queries not an array', (m) => (m.queries = {}), /\$\.queries must be an array/],
    ['too many queries', (m) => (m.queries = Array.from({ length: 1001 }, (_, i) => ({ ref: `r${i}`, myNumber: VALID_NUMBER, ...SUBJECT }))), /\$\.queries must have/],
    ['a query that is not an object', (m) => (m.queries[0] = 'x'), /\$\.queries\[0\] must be an object/],
    ['an unknown query member', (m) => (m.queries[1].name = 'x'), /\$\.queries\[1\]\.name is not allowed/],
    ['a bad check digit', (m) => (m.queries[0].myNumber = '123456789019'), /\$\.queries\[0\]\.myNumber/],
    ['an 11-digit number', (m) => (m.queries[0].myNumber = '12345678901'), /\$\.queries\[0\]\.myNumber/],
    ['a numeric myNumber', (m) => (m.queries[0].myNumber = 123456789018), /\$\.queries\[0\]\.myNumber/],
    ['a jti holding a 12-digit run', (m) => (m.jti = VALID_NUMBER), /\$\.jti/],
    ['a ref of 129 characters', (m) => (m.queries[1].ref = 'r'.repeat(129)), /\$\.queries\[1\]\.ref/],
    ['a missing ref', (m) => delete m.queries[1].ref, /\$\.queries\[1\]\.ref is required/],
    ['a repeated ref', (m) => (m.queries[1].ref = 'inq-1'), /ref must not repeat/],
    ['a missing nameKey', (m) => delete m.queries[0].nameKey, /\$\.queries\[0\]\.nameKey is required/],
    ['a nameKey not normalised (full-width)', (m) => (m.queries[0].nameKey = 'ヤマダタロウ'), /\$\.queries\[0\]\.nameKey must be a name key/],
    ['a nameKey with a space', (m) => (m.queries[0].nameKey = 'ﾔﾏﾀﾞ ﾀﾛｳ'), /\$\.queries\[0\]\.nameKey must be a name key/],
    ['a missing birthDate', (m) => delete m.queries[1].birthDate, /\$\.queries\[1\]\.birthDate is required/],
    ['an impossible birthDate', (m) => (m.queries[1].birthDate = '1940-02-30'), /\$\.queries\[1\]\.birthDate/],
  ])('refuses %s', (_label, mutate, message) => {
    const m = query();
    mutate(m);
    expect(refusal(() => parseLocationQueryMessage(m))).toMatch(message);
  });

  /** A PeerMessageRefusal's code and message. */
  const refusedWith = (m: unknown) => {
    try {
      parseLocationQueryMessage(m);
    } catch (error) {
      expect(error).toBeInstanceOf(PeerMessageRefusal);
      return { code: (error as PeerMessageRefusal).code, message: (error as Error).message };
    }
    throw new Error('expected a refusal');
  };

  it.each<[string, Mutation]>([
    ['in a disaster query', (m) => (m.purpose = 'disaster')],
    ['as a bare true (version 1)', (m) => (m.queries[0].deceased = true)],
    ['without a date of death', (m) => delete m.queries[0].deceased.dateOfDeath],
    ['with a death before the birth', (m) => (m.queries[0].deceased.dateOfDeath = '1939-12-31')],
    ['without evidence', (m) => (m.queries[0].deceased.evidence = [])],
    ['with 11 documents', (m) => (m.queries[0].deceased.evidence = Array(11).fill(DEATH.evidence[0]))],
    ['with a document that does not evidence a death', (m) => (m.queries[0].deceased.evidence = [{ type: 'passport', reference: 'P' }])],
    ['with a reference holding a 12-digit run', (m) => (m.queries[0].deceased.evidence = [{ type: 'resident-record-removal', reference: VALID_NUMBER }])],
    ['with an unknown member', (m) => (m.queries[0].deceased.cause = 'x')],
  ])('refuses a claim of death %s: PEER_DECEASED_CLAIM_REFUSED', (_label, mutate) => {
    const m = query();
    mutate(m);
    const { code, message } = refusedWith(m);
    expect(code).toBe('PEER_DECEASED_CLAIM_REFUSED');
    expect(message).toMatch(/^\$\.queries\[0\]\.deceased/);
    expect(message).not.toContain(VALID_NUMBER);
  });

  it('takes a claim of death with its date and evidence in an inheritance query', () => {
    expect(parseLocationQueryMessage(query()).queries[0].deceased).toEqual(DEATH);
  });

  it.each<[string, unknown]>([
    ['no v (version 1)', undefined],
    ['v: 1', 1],
    ['v: 3', 3],
    ['v: "2"', '2'],
  ])('refuses a message with %s: PEER_PROTOCOL_VERSION_UNSUPPORTED', (_label, v) => {
    const m: Record<string, unknown> = { ...query(), v };
    if (v === undefined) delete m.v;
    expect(refusedWith(m).code).toBe('PEER_PROTOCOL_VERSION_UNSUPPORTED');
    for (const parse of [parseLocationAnswerMessage, parseNumberingNoticeMessage, parseNumberingResultMessage]) {
      expect(() => parse({ ...m, typ: 'x' })).toThrow(PeerMessageRefusal);
    }
  });

  it('accepts a ref holding a run of 12 digits (it is never stored as it is)', () => {
    const m = query();
    m.queries[1].ref = `inq-${OTHER_VALID_NUMBER}`;
    expect(parseLocationQueryMessage(m).queries[1].ref).toBe(m.queries[1].ref);
  });

  it('never repeats a value in its refusal (a value may be a My Number)', () => {
    const m = query();
    m.queries[0].myNumber = '123456789019';
    expect(refusal(() => parseLocationQueryMessage(m))).not.toContain('123456789019');
  });

  it('refuses null and a non-object', () => {
    expect(refusal(() => parseLocationQueryMessage(null))).toMatch(/\$ must be an object/);
    expect(refusal(() => parseLocationQueryMessage('{}'))).toMatch(/\$ must be an object/);
  });
});

describe('checkedLocationQuery (a fan-out\'s query, checked once for every node)', () => {
  const [heir, plain] = query().queries;

  it('checks as the parser does, keeps only the protocol members, and freezes', () => {
    const checked = checkedLocationQuery({ ...heir, extra: 'not sent' } as never, 'inheritance');
    expect(checked).toEqual(heir);
    expect(Object.isFrozen(checked) && Object.isFrozen(checked.deceased) && Object.isFrozen(checked.deceased!.evidence[0])).toBe(true);
    expect(isCheckedLocationQuery(checked, 'inheritance')).toBe(true);
    expect(() => checkedLocationQuery({ ...plain, myNumber: '123456789012' } as never, 'inheritance')).toThrow(EnvelopeError);
  });

  it('the parser takes a checked query as it is, and checks anything else, an equal copy included', () => {
    const checked = checkedLocationQuery(plain as never, 'inheritance');
    const message = { ...query(), queries: [checked] };
    expect(parseLocationQueryMessage(message).queries[0]).toBe(checked);
    const copy = { ...checked };
    expect(isCheckedLocationQuery(copy, 'inheritance')).toBe(false);
    expect(parseLocationQueryMessage({ ...query(), queries: [copy] }).queries[0]).not.toBe(copy);
  });

  it('checked for one purpose, it is checked again in a message of the other (a claim of death is for heirs only)', () => {
    const checked = checkedLocationQuery(heir as never, 'inheritance');
    expect(isCheckedLocationQuery(checked, 'disaster')).toBe(false);
    expect(() => parseLocationQueryMessage({ ...query(), purpose: 'disaster', queries: [checked] })).toThrow();
  });
});

describe('locationQueryMessageJson (a checked query serialised once)', () => {
  it('is JSON.stringify of the message, byte for byte, for checked and unchecked queries alike, and stays so', () => {
    const [heir, plain] = query().queries;
    const checked = checkedLocationQuery(heir as never, 'inheritance');
    for (const queries of [[checked], [checked, plain], [plain, checked, { ...checked, ref: 'inq-3' }]]) {
      const message = parseLocationQueryMessage({ ...query(), queries });
      for (let i = 0; i < 2; i++) expect(locationQueryMessageJson(message)).toBe(JSON.stringify(message));
    }
    // Unicode (the name key is half-width katakana) and the claim of death come out as JSON.stringify writes them.
    expect(locationQueryMessageJson(parseLocationQueryMessage({ ...query(), queries: [checked] }))).toContain('"nameKey":"ﾔﾏﾀﾞﾀﾛｳ"');
  });
});

describe('parseLocationAnswerMessage', () => {
  it('accepts a well-formed answer, including refs with no institution, and an empty answer list', () => {
    expect(parseLocationAnswerMessage(answer())).toEqual(answer());
    expect(parseLocationAnswerMessage({ ...answer(), answers: [] }).answers).toEqual([]);
  });

  it.each<[string, Mutation, RegExp]>([
    ['an inReplyTo holding a 12-digit run', (m) => (m.inReplyTo = `x${VALID_NUMBER}`), /\$\.inReplyTo/],
    ['a missing inReplyTo', (m) => delete m.inReplyTo, /\$\.inReplyTo is required/],
    ['a missing exp', (m) => delete m.exp, /\$\.exp is required/],
    ['an unknown member', (m) => (m.balance = 1), /\$\.balance is not allowed/],
    ['a query-type message', (m) => (m.typ = 'location-query'), /\$\.typ/],
    ['a 3-digit institution code', (m) => (m.answers[0].institutions[0].code = '005'), /institutions\[0\]\.code/],
    ['an institution with no accounts', (m) => (m.answers[0].institutions[0].accounts = []), /accounts must have 1/],
    ['an institution listed twice', (m) => m.answers[0].institutions.push(m.answers[0].institutions[0]), /code must not repeat/],
    ['an unknown account type', (m) => (m.answers[0].institutions[0].accounts[0].accountType = 'loan'), /accountType/],
    ['a 6-digit account number', (m) => (m.answers[0].institutions[0].accounts[0].accountNumber = '123456'), /accountNumber/],
    ['a 4-digit branch code', (m) => (m.answers[0].institutions[0].accounts[0].branchCode = '0001'), /branchCode/],
    ['a balance on an account', (m) => (m.answers[0].institutions[0].accounts[0].balance = 100), /accounts\[0\]\.balance is not allowed/],
    ['a repeated ref', (m) => (m.answers[1].ref = 'inq-1'), /ref must not repeat/],
    ['institutions not an array', (m) => (m.answers[1].institutions = null), /institutions must be an array/],
  ])('refuses %s', (_label, mutate, message) => {
    const m = answer();
    mutate(m);
    expect(refusal(() => parseLocationAnswerMessage(m))).toMatch(message);
  });
});

const notice = () => ({
  v: 2,
  typ: 'numbering-notice',
  iss: 'node-a',
  aud: 'node-b',
  jti: '7f2c1d3e-0000-4000-8000-00000000b001',
  iat: 1_800_000_000,
  exp: 1_800_000_060,
  purpose: 'numbering',
  notices: [
    {
      ref: 'req-1',
      myNumber: VALID_NUMBER,
      nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
      birthDate: '1980-04-01',
      address: '東京都千代田区千代田1-1',
      institutions: ['0005', '0009'],
      origin: { requestId: '0c6f3f5e-8a3b-4f7e-9d51-3b1f1d2a0001', institutionCode: '0001', branchCode: '010', operatorId: 'T0100' },
      verification: { numberDocument: 'my-number-card', identityDocument: 'my-number-card' },
      consentAt: '2026-04-01T10:15:00+09:00',
    },
  ],
});

const result = () => ({
  v: 2,
  typ: 'numbering-result',
  iss: 'node-b',
  aud: 'node-a',
  jti: 'r-1',
  iat: 1_800_000_001,
  exp: 1_800_000_061,
  inReplyTo: '7f2c1d3e-0000-4000-8000-00000000b001',
  results: [
    {
      ref: 'req-1',
      institutions: [
        { code: '0005', status: 'attached', accounts: 2 },
        { code: '0009', status: 'ambiguous', reason: 'several-customers' },
        { code: '0010', status: 'no-match', reason: 'no-candidate' },
      ],
    },
  ],
});

describe('parseNumberingNoticeMessage', () => {
  it('accepts a well-formed notice and returns exactly its members', () => {
    expect(parseNumberingNoticeMessage(notice())).toEqual(notice());
  });

  it.each<[string, Mutation, RegExp]>([
    ['a location-query', (m) => (m.typ = 'location-query'), /\$\.typ must be "numbering-notice"/],
    ['another purpose', (m) => (m.purpose = 'inheritance'), /\$\.purpose must be numbering/],
    ['queries instead of notices', (m) => ((m.queries = m.notices), delete m.notices), /\$\.queries is not allowed/],
    ['no notices', (m) => (m.notices = []), /\$\.notices must have 1/],
    ['a bad check digit', (m) => (m.notices[0].myNumber = '123456789019'), /notices\[0\]\.myNumber/],
    ['a name that is not kana', (m) => (m.notices[0].nameKana = 'Yamada'), /notices\[0\]\.nameKana/],
    ['an impossible birth date', (m) => (m.notices[0].birthDate = '1980-02-30'), /notices\[0\]\.birthDate/],
    ['an empty address', (m) => (m.notices[0].address = ''), /notices\[0\]\.address/],
    ['an address of 201 characters', (m) => (m.notices[0].address = 'あ'.repeat(201)), /notices\[0\]\.address/],
    ['an address holding a 12-digit run', (m) => (m.notices[0].address = `1-1 ${OTHER_VALID_NUMBER}`), /notices\[0\]\.address/],
    ['no institutions', (m) => (m.notices[0].institutions = []), /notices\[0\]\.institutions must have 1/],
    ['a repeated institution', (m) => (m.notices[0].institutions = ['0005', '0005']), /institutions must not repeat/],
    ['a 3-digit institution', (m) => (m.notices[0].institutions = ['005']), /institutions\[0\]/],
    ['a missing origin', (m) => delete m.notices[0].origin, /notices\[0\]\.origin is required/],
    ['an unknown origin member', (m) => (m.notices[0].origin.nodeId = 'x'), /origin\.nodeId is not allowed/],
    ['a requestId holding a 12-digit run', (m) => (m.notices[0].origin.requestId = VALID_NUMBER), /origin\.requestId/],
    ['a bad branch code', (m) => (m.notices[0].origin.branchCode = '10'), /origin\.branchCode/],
    ['an operator id holding a 12-digit run', (m) => (m.notices[0].origin.operatorId = VALID_NUMBER), /origin\.operatorId/],
    ['an unknown number document', (m) => (m.notices[0].verification.numberDocument = 'passport'), /verification\.numberDocument/],
    ['an unknown identity document', (m) => (m.notices[0].verification.identityDocument = 'library-card'), /verification\.identityDocument/],
    ['a consent without a time zone', (m) => (m.notices[0].consentAt = '2026-04-01T10:15:00'), /notices\[0\]\.consentAt/],
    ['a repeated ref', (m) => m.notices.push({ ...m.notices[0] }), /ref must not repeat/],
  ])('refuses %s', (_label, mutate, message) => {
    const m = notice();
    mutate(m);
    expect(refusal(() => parseNumberingNoticeMessage(m))).toMatch(message);
  });

  it('never repeats a value in its refusal', () => {
    const m = notice();
    m.notices[0].address = `1-1 ${OTHER_VALID_NUMBER}`;
    expect(refusal(() => parseNumberingNoticeMessage(m))).not.toContain(OTHER_VALID_NUMBER);
  });

  it('a location-query is not a notice, nor a notice a location-query', () => {
    expect(refusal(() => parseNumberingNoticeMessage(query()))).toMatch(/\$\.(typ|queries)/);
    expect(refusal(() => parseLocationQueryMessage(notice()))).toMatch(/\$\.(typ|notices)/);
  });
});

describe('parseNumberingResultMessage', () => {
  it('accepts a well-formed result, and a ref with no institution', () => {
    expect(parseNumberingResultMessage(result())).toEqual(result());
    const empty = { ...result(), results: [{ ref: 'req-1', institutions: [] }] };
    expect(parseNumberingResultMessage(empty)).toEqual(empty);
  });

  it.each<[string, Mutation, RegExp]>([
    ['a location-answer', (m) => (m.typ = 'location-answer'), /\$\.typ must be "numbering-result"/],
    ['answers instead of results', (m) => ((m.answers = m.results), delete m.results), /\$\.answers is not allowed/],
    ['an unknown status', (m) => (m.results[0].institutions[0].status = 'found'), /institutions\[0\]\.status/],
    ['attached without a count', (m) => delete m.results[0].institutions[0].accounts, /institutions\[0\]\.accounts/],
    ['attached with 0 accounts', (m) => (m.results[0].institutions[0].accounts = 0), /institutions\[0\]\.accounts/],
    ['attached with a list of accounts', (m) => (m.results[0].institutions[0].accounts = [{}]), /institutions\[0\]\.accounts/],
    ['a count on a no-match', (m) => (m.results[0].institutions[2].accounts = 1), /institutions\[2\]\.accounts is only allowed/],
    ['a reason with spaces', (m) => (m.results[0].institutions[1].reason = 'two people'), /institutions\[1\]\.reason/],
    ['an unknown member', (m) => (m.results[0].institutions[1].name = 'x'), /institutions\[1\]\.name is not allowed/],
    ['an institution listed twice', (m) => (m.results[0].institutions[1].code = '0005'), /code must not repeat/],
    ['an inReplyTo holding a 12-digit run', (m) => (m.inReplyTo = VALID_NUMBER), /\$\.inReplyTo/],
  ])('refuses %s', (_label, mutate, message) => {
    const m = result();
    mutate(m);
    expect(refusal(() => parseNumberingResultMessage(m))).toMatch(message);
  });
});

describe('newMessageId', () => {
  it('draws distinct ids that pass as a jti', () => {
    const ids = Array.from({ length: 500 }, newMessageId);
    expect(new Set(ids).size).toBe(500);
    for (const jti of ids) expect(() => parseLocationQueryMessage({ ...query(), jti })).not.toThrow();
  });
});
