/**
 * Every machine code the API answers with, its HTTP status and its title. Clients
 * branch on `code`; these never change meaning. The OpenAPI document lists them.
 */
export const ERROR_CATALOGUE = {
  MALFORMED_JSON: { status: 400, title: 'The request body is not valid JSON' },
  JSON_LIMIT_EXCEEDED: {
    status: 400,
    title: 'The JSON body is nested too deeply or has too long an array (JSON_MAX_DEPTH, JSON_MAX_ARRAY_ITEMS)',
  },
  INVALID_IDEMPOTENCY_KEY: { status: 400, title: 'The Idempotency-Key header is malformed' },
  UNAUTHENTICATED: { status: 401, title: 'A valid API key is required' },
  PEER_PROTOCOL_VERSION_UNSUPPORTED: {
    status: 400,
    title: 'The node-to-node message is of a protocol version this node does not speak (see supportedVersions)',
  },
  PEER_MESSAGE_REFUSED: { status: 401, title: 'The node-to-node message is refused' },
  PEER_ORIGIN_NOT_REGISTERED: {
    status: 403,
    title: 'A numbering notice names an origin institution that is not registered behind the sending node',
  },
  FORBIDDEN_SCOPE: { status: 403, title: 'The API key lacks the scope this action needs' },
  NOT_FOUND: { status: 404, title: 'No such resource' },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  INSTITUTION_EXISTS: { status: 409, title: 'An institution with this code already exists' },
  KEY_ROTATION_IN_PROGRESS: { status: 409, title: 'A rotation of this key is already under way' },
  REGISTER_IMPORT_IN_PROGRESS: { status: 409, title: "An upload of the institution's account register is already queued or running" },
  PEER_KEY_CHANGE_UNENDORSED: {
    status: 409,
    title:
      "The peer node's GET /v1/node shows new keys without a key statement signed by a key trusted for it; " +
      'refused: register the peer again (POST /v1/peers) to accept them',
  },
  ACCOUNT_LINKED_TO_OTHER_SUBJECT: {
    status: 409,
    title: 'The account is already linked to a different My Number',
  },
  SUBJECT_BIRTH_DATE_MISMATCH: {
    status: 409,
    title: 'This My Number is already held at this institution with another birth date',
  },
  ACCOUNT_CLOSED: { status: 409, title: "The account is closed in the institution's account register" },
  ACCOUNT_HOLDER_MISMATCH: {
    status: 409,
    title: "The account's holder in the account register is not this depositor (kana name and birth date)",
  },
  REGISTER_HOLDER_AMBIGUOUS: {
    status: 409,
    title: 'Several customers in the account register have this kana name and birth date; list the accounts',
  },
  LINKAGE_ALREADY_REVOKED: { status: 409, title: 'The linkage is already revoked' },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    title: 'The Idempotency-Key was already used with a different request',
  },
  API_KEY_ALREADY_REVOKED: { status: 409, title: 'The API key is already revoked' },
  WEBHOOK_NOT_CONFIGURED: { status: 409, title: 'The institution has no webhook URL' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  REGISTER_SPOOL_FULL: { status: 413, title: "The upload would exceed the institution's storage for spooled register uploads" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The request body must be application/json' },
  VALIDATION_FAILED: { status: 422, title: 'The request is invalid' },
  PEER_DECEASED_CLAIM_REFUSED: {
    status: 422,
    title: 'A location query claims the subject deceased outside an inheritance query, or without the date of death and evidence',
  },
  INVALID_MY_NUMBER: { status: 422, title: 'The My Number is not 12 digits with a valid check digit' },
  NO_ACTIVE_DISASTER_DECLARATION: {
    status: 422,
    title: "No active disaster declaration covers the depositor's municipality",
  },
  REGISTER_FILE_REFUSED: { status: 422, title: 'The file is not an account register in the documented layout' },
  ACCOUNT_NOT_IN_REGISTER: { status: 422, title: "The account is not in the institution's account register" },
  REGISTER_REQUIRED: { status: 422, title: 'accounts: "all" needs an account register, and this institution has none' },
  NO_ACCOUNTS_IN_REGISTER: {
    status: 422,
    title: 'The account register has no open account of a holder with this kana name and birth date',
  },
  UNKNOWN_INSTITUTION: { status: 422, title: 'A target institution is neither hosted here nor behind a registered peer' },
  TARGET_IS_REQUESTER: {
    status: 422,
    title: 'A numbering request names the requesting institution itself: attach there with POST /v1/linkages',
  },
  NO_TARGET_INSTITUTION: { status: 422, title: 'No institution other than the requesting one is known to number at' },
  RATE_LIMITED: { status: 429, title: 'Too many requests with this API key; retry after Retry-After seconds' },
  PEER_RATE_LIMITED: {
    status: 429,
    title: 'Too many node-to-node messages from this address; retry after Retry-After seconds',
  },
  PEER_QUOTA_EXCEEDED: {
    status: 429,
    title: "The sending peer node's quota of queries per minute is spent; retry after Retry-After seconds",
  },
  INTERNAL_ERROR: { status: 500, title: 'Internal error' },
  RECORD_INTEGRITY_FAILED: {
    status: 500,
    title: 'A stored record failed its integrity check and was not read; the operator is alerted',
  },
  PEER_KEYS_UNAVAILABLE: {
    status: 502,
    title: "The peer node's GET /v1/node could not be fetched, or did not publish acceptable keys for its node id",
  },
  DATABASE_UNAVAILABLE: { status: 503, title: 'The database is unavailable; retry later' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/**
 * Codes carried by individual field errors of a 422 (`errors[].code`). When every
 * field error of a request has the same code, that code is also the problem's `code`.
 */
export const FIELD_ERROR_CODES = [
  'REQUIRED',
  'UNKNOWN_FIELD',
  'INVALID_TYPE',
  'INVALID_FORMAT',
  'INVALID_VALUE',
  'INVALID_MY_NUMBER',
  'INVALID_KANA_NAME',
  'INVALID_DATE',
  'DATE_NOT_IN_PAST',
  'DATE_IN_FUTURE',
  'TOO_MANY',
  'TOO_FEW',
  'DUPLICATE',
  'CONTAINS_MY_NUMBER',
] as const;

export type FieldErrorCode = (typeof FIELD_ERROR_CODES)[number];
