import { describe, expect, it } from '@jest/globals';
import { CreateLinkageDto } from '../../linkages/dto/create-linkage.dto.js';
import { ValidationFailed } from '../errors/domain-error.js';
import type { FieldError } from '../errors/domain-error.js';
import { createValidationPipe } from './validation.pipe.js';

const VALID_NUMBER = '123456789018';
const BAD_CHECK_DIGIT = '123456789019';

const validBody = () => ({
  branchCode: '001',
  operatorId: 'T0042',
  subject: { myNumber: VALID_NUMBER, nameKana: 'ヤマダ タロウ', birthDate: '1980-04-01' },
  accounts: [
    { branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' },
    { branchCode: '002', accountType: 'savings', accountNumber: '0012345' },
  ],
  verification: { numberDocument: 'my-number-card', identityDocument: 'drivers-license' },
  consentAt: '2024-04-01T10:15:00+09:00',
});
type Body = ReturnType<typeof validBody>;

const sut = createValidationPipe();
const validate = (body: unknown) => sut.transform(body, { type: 'body', metatype: CreateLinkageDto });

async function failure(body: unknown): Promise<ValidationFailed> {
  try {
    await validate(body);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationFailed);
    return error as ValidationFailed;
  }
  throw new Error('expected the body to be refused');
}

/** The errors of a body, without their messages. */
async function errorsOf(body: unknown): Promise<Array<Omit<FieldError, 'message'>>> {
  return (await failure(body)).errors.map(({ path, code }) => ({ path, code }));
}

const withBody = (change: (body: Body) => void): Body => {
  const body = validBody();
  change(body);
  return body;
};

/** Everything a client could see of the error. */
const serialized = (error: ValidationFailed) =>
  JSON.stringify({ errors: error.errors, detail: error.detail, message: error.message, extra: error.extra, code: error.code });

describe('createValidationPipe with CreateLinkageDto', () => {
  it('accepts a valid body and returns a CreateLinkageDto', async () => {
    const body = validBody();
    const result = await validate(body);
    expect(result).toBeInstanceOf(CreateLinkageDto);
    expect(result).toMatchObject(body);
  });

  it.each<[string, (body: Body) => void, string, string]>([
    ['a bad check digit', (b) => (b.subject.myNumber = BAD_CHECK_DIGIT), 'subject.myNumber', 'INVALID_MY_NUMBER'],
    ['11 digits', (b) => (b.subject.myNumber = '12345678901'), 'subject.myNumber', 'INVALID_MY_NUMBER'],
    ['a number, not a string', (b) => ((b.subject as Record<string, unknown>).myNumber = 123456789018), 'subject.myNumber', 'INVALID_MY_NUMBER'],
    ['a missing My Number', (b) => delete (b.subject as Partial<Body['subject']>).myNumber, 'subject.myNumber', 'REQUIRED'],
    ['a hiragana name', (b) => (b.subject.nameKana = 'やまだ たろう'), 'subject.nameKana', 'INVALID_KANA_NAME'],
    ['a kanji name', (b) => (b.subject.nameKana = '山田太郎'), 'subject.nameKana', 'INVALID_KANA_NAME'],
    ['a birth date in the future', (b) => (b.subject.birthDate = '2999-01-01'), 'subject.birthDate', 'DATE_NOT_IN_PAST'],
    ['a birth date before 1900', (b) => (b.subject.birthDate = '1899-12-31'), 'subject.birthDate', 'DATE_NOT_IN_PAST'],
    ['a birth date that does not exist', (b) => (b.subject.birthDate = '2023-02-29'), 'subject.birthDate', 'INVALID_DATE'],
    ['a birth date not in YYYY-MM-DD', (b) => (b.subject.birthDate = '01/04/1980'), 'subject.birthDate', 'INVALID_DATE'],
    ['a consent date in the future', (b) => (b.consentAt = '2999-01-01T00:00:00+09:00'), 'consentAt', 'DATE_IN_FUTURE'],
    ['a consent date without a time zone', (b) => (b.consentAt = '2024-04-01T10:15:00'), 'consentAt', 'INVALID_DATE'],
    ['a consent date that does not exist', (b) => (b.consentAt = '2024-02-30T10:15:00Z'), 'consentAt', 'INVALID_DATE'],
    ['a missing consent date', (b) => delete (b as Partial<Body>).consentAt, 'consentAt', 'REQUIRED'],
    ['a 2-digit branch code', (b) => (b.branchCode = '01'), 'branchCode', 'INVALID_FORMAT'],
    ['a numeric branch code', (b) => ((b as Record<string, unknown>).branchCode = 1), 'branchCode', 'INVALID_TYPE'],
    ['a 6-digit account number', (b) => (b.accounts[0].accountNumber = '123456'), 'accounts[0].accountNumber', 'INVALID_FORMAT'],
    ['a bad account branch', (b) => (b.accounts[1].branchCode = 'abc'), 'accounts[1].branchCode', 'INVALID_FORMAT'],
    ['an unknown account type', (b) => (b.accounts[1].accountType = 'checking'), 'accounts[1].accountType', 'INVALID_VALUE'],
    ['a missing account number', (b) => delete (b.accounts[0] as Partial<Body['accounts'][0]>).accountNumber, 'accounts[0].accountNumber', 'REQUIRED'],
    ['an unknown number document', (b) => (b.verification.numberDocument = 'library-card'), 'verification.numberDocument', 'INVALID_VALUE'],
    ['an operator id with a space', (b) => (b.operatorId = 'T 42'), 'operatorId', 'INVALID_FORMAT'],
    ['an operator id holding a My Number', (b) => (b.operatorId = `T-${VALID_NUMBER}`), 'operatorId', 'CONTAINS_MY_NUMBER'],
    ['a missing subject', (b) => delete (b as Partial<Body>).subject, 'subject', 'REQUIRED'],
    ['a subject that is a string', (b) => ((b as Record<string, unknown>).subject = 'x'), 'subject', 'INVALID_TYPE'],
    ['an unknown top-level field', (b) => ((b as Record<string, unknown>).note = 'x'), 'note', 'UNKNOWN_FIELD'],
    ['an unknown nested field', (b) => ((b.subject as Record<string, unknown>).gender = 'x'), 'subject.gender', 'UNKNOWN_FIELD'],
    ['the same account twice', (b) => b.accounts.push({ ...b.accounts[0] }), 'accounts', 'DUPLICATE'],
    ['no account', (b) => (b.accounts = []), 'accounts', 'TOO_FEW'],
    ['too many accounts', (b) => (b.accounts = Array.from({ length: 101 }, (_, i) => ({ branchCode: '001', accountType: 'ordinary', accountNumber: String(i).padStart(7, '0') }))), 'accounts', 'TOO_MANY'],
  ])('%s → one error at its path, with its code', async (_case, change, path, code) => {
    expect(await errorsOf(withBody(change))).toEqual([{ path, code }]);
  });

  describe('accounts: "all" or a list', () => {
    it('accepts the string "all" and keeps it as it is', async () => {
      const result = (await validate({ ...validBody(), accounts: 'all' })) as CreateLinkageDto;
      expect(result.accounts).toBe('all');
    });

    it.each<[string, unknown, string, string]>([
      ['another string', 'ALL', 'accounts', 'INVALID_TYPE'],
      ['a number', 1, 'accounts', 'INVALID_TYPE'],
      ['an object', { branchCode: '001', accountType: 'ordinary', accountNumber: '0012345' }, 'accounts', 'INVALID_TYPE'],
      ['null', null, 'accounts', 'INVALID_TYPE'],
      ['"all" inside the list', ['all'], 'accounts[0]', 'INVALID_TYPE'],
    ])('refuses %s', async (_case, accounts, path, code) => {
      expect(await errorsOf({ ...validBody(), accounts })).toEqual([{ path, code }]);
    });

    it('requires accounts', async () => {
      const body: Partial<Body> = validBody();
      delete body.accounts;
      expect(await errorsOf(body)).toEqual([{ path: 'accounts', code: 'REQUIRED' }]);
    });
  });

  it('reports one error per invalid field, every field at once', async () => {
    const body = withBody((b) => {
      b.subject.nameKana = 'Yamada';
      b.accounts[0].accountNumber = 'x';
      b.verification.identityDocument = 'selfie';
    });
    expect(await errorsOf(body)).toEqual(
      expect.arrayContaining([
        { path: 'subject.nameKana', code: 'INVALID_KANA_NAME' },
        { path: 'accounts[0].accountNumber', code: 'INVALID_FORMAT' },
        { path: 'verification.identityDocument', code: 'INVALID_VALUE' },
      ]),
    );
    expect((await failure(body)).errors).toHaveLength(3);
  });

  it('gives every error a message that starts with its path', async () => {
    const error = await failure(withBody((b) => {
      b.accounts[0].accountNumber = 'x';
      delete (b as Partial<Body>).consentAt;
    }));
    for (const e of error.errors) expect(e.message.startsWith(e.path)).toBe(true);
  });

  describe('error code of the whole error', () => {
    it('is INVALID_MY_NUMBER when the My Number is the only thing wrong', async () => {
      const error = await failure(withBody((b) => (b.subject.myNumber = BAD_CHECK_DIGIT)));
      expect(error.code).toBe('INVALID_MY_NUMBER');
      expect(error.status).toBe(422);
    });

    it('is VALIDATION_FAILED when anything else is wrong too', async () => {
      const error = await failure(withBody((b) => {
        b.subject.myNumber = BAD_CHECK_DIGIT;
        b.branchCode = '1';
      }));
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.status).toBe(422);
    });

    it('is VALIDATION_FAILED when the My Number is valid and something else is wrong', async () => {
      expect((await failure(withBody((b) => (b.subject.nameKana = 'x')))).code).toBe('VALIDATION_FAILED');
    });
  });

  it.each([[[]], [[validBody()]], ['a string'], [null], [42], [true]])(
    'refuses a body that is not a JSON object (%j) with one INVALID_TYPE error at the root',
    async (body) => {
      expect(await errorsOf(body)).toEqual([{ path: '', code: 'INVALID_TYPE' }]);
    },
  );

  it('refuses an empty object, naming every required field', async () => {
    const errors = await errorsOf({});
    expect(errors.map((e) => e.path).sort()).toEqual(
      ['accounts', 'branchCode', 'consentAt', 'operatorId', 'subject', 'verification'].sort(),
    );
    expect(errors.every((e) => e.code === 'REQUIRED')).toBe(true);
  });

  describe('never echoes the My Number that was sent', () => {
    it.each<[string, (body: Body) => void]>([
      ['a valid number with a bad name', (b) => (b.subject.nameKana = '山田')],
      ['a valid number with every other field bad', (b) => {
        b.subject.nameKana = '山田';
        b.subject.birthDate = '2999-01-01';
        b.branchCode = 'x';
        b.accounts = [];
        (b as Record<string, unknown>).extra = 1;
      }],
      ['a bad check digit', (b) => (b.subject.myNumber = BAD_CHECK_DIGIT)],
      ['a bad check digit with a bad name', (b) => {
        b.subject.myNumber = BAD_CHECK_DIGIT;
        b.subject.nameKana = '山田';
      }],
      ['13 digits', (b) => (b.subject.myNumber = `${VALID_NUMBER}3`)],
      ['a number with spaces', (b) => (b.subject.myNumber = '1234 5678 9018')],
      ['a JSON number', (b) => ((b.subject as Record<string, unknown>).myNumber = 123456789018)],
      ['a number in the operator id', (b) => (b.operatorId = VALID_NUMBER)],
      ['a number in an unknown field', (b) => ((b as Record<string, unknown>).memo = VALID_NUMBER)],
      ['a number in the name field', (b) => (b.subject.nameKana = VALID_NUMBER)],
      ['a number in an account number', (b) => (b.accounts[0].accountNumber = VALID_NUMBER)],
      ['a number as the subject', (b) => ((b as Record<string, unknown>).subject = VALID_NUMBER)],
    ])('%s', async (_case, change) => {
      const body = withBody(change);
      const sent = JSON.stringify(body).match(/\d{4} ?\d{4} ?\d{4}\d?/)![0];
      const error = await failure(body);
      const text = serialized(error);
      expect(text).not.toContain(sent);
      expect(text).not.toContain(sent.replace(/ /g, '').slice(0, 12));
      expect(text).not.toMatch(/\d{12}/);
    });

    // An unknown field is reported by its name; a name that is a My Number must not be echoed.
    it.each([
      ['at the top level', (b: Body) => ((b as Record<string, unknown>)[VALID_NUMBER] = 'x')],
      ['inside subject', (b: Body) => ((b.subject as Record<string, unknown>)[VALID_NUMBER] = 'x')],
    ])('a number sent as the name of an unknown field %s', async (_case, change) => {
      const error = await failure(withBody(change));
      expect(error.errors).toEqual([expect.objectContaining({ code: 'UNKNOWN_FIELD' })]);
      expect(serialized(error)).not.toContain(VALID_NUMBER);
    });
  });
});
