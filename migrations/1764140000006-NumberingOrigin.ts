import type { MigrationInterface, QueryRunner } from 'typeorm';
import { AttachFunction1764140000001 } from './1764140000001-AttachFunction.js';

/**
 * Attachments made by a numbering request (他行付番) rather than by a teller here.
 *
 * A numbering request made at one institution attaches the number at another,
 * hosted here, through the same function as a teller's linkage (`kouza_attach`), so
 * that every check, the idempotency record and the audit row stay in one place. What
 * differs is recorded:
 * - `attachments` says which numbering request made it: the request's id at its
 *   origin, the origin node (NULL: this node) and the originating institution. The
 *   row's branch_code and operator_id are then the originating teller's (at the
 *   originating institution), and api_key_id is NULL: no key of this institution acted.
 * - `kouza_attach` takes three trailing parameters, with defaults that keep the
 *   teller's call as it was: the audit action (`numbering.attach`), the actor type
 *   (`institution` for an origin on this node, `peer` for one behind a peer node)
 *   and the origin, which is stored in the attachment and, as `origin`, in the
 *   audit row's details. The audit row's institution is the target's: it owns the
 *   linkages.
 *
 * The teller's single-statement fast path (LinkagesRepository) is not touched.
 */
export class NumberingOrigin1764140000006 implements MigrationInterface {
  name = 'NumberingOrigin1764140000006';

  async up(q: QueryRunner): Promise<void> {
    // Nullable, no default: adding them rewrites nothing.
    await q.query(`
      ALTER TABLE attachments
        ADD COLUMN numbering_request_id    uuid,
        ADD COLUMN origin_node_id          text,
        ADD COLUMN origin_institution_code text CHECK (origin_institution_code ~ '^[0-9]{4}$'),
        ADD CONSTRAINT attachments_numbering_origin
          CHECK ((numbering_request_id IS NULL) = (origin_institution_code IS NULL)
                 AND (origin_node_id IS NULL OR numbering_request_id IS NOT NULL))`);

    // A new signature is a new function: drop the old one so that calls cannot
    // resolve to it, then create the one with the trailing parameters.
    await q.query(`DROP FUNCTION kouza_attach(uuid, uuid, text, text, interval, bytea[], uuid, smallint[], bytea[], bytea, uuid, text, date, uuid, text, text, text, text, timestamptz, uuid[], text[], text[], text[])`);
    await q.query(`
CREATE FUNCTION kouza_attach(
  p_institution_id    uuid,
  p_api_key_id        uuid,
  p_request_id        text,
  p_idempotency_key   text,
  p_idempotency_ttl   interval,
  p_fingerprints      bytea[],
  p_subject_id        uuid,
  p_bi_versions       smallint[],
  p_bi_digests        bytea[],
  p_ciphertext        bytea,
  p_data_key_id       uuid,
  p_name_kana         text,
  p_birth_date        date,
  p_attachment_id     uuid,
  p_branch_code       text,
  p_operator_id       text,
  p_number_document   text,
  p_identity_document text,
  p_consent_at        timestamptz,
  p_linkage_ids       uuid[],
  p_account_branches  text[],
  p_account_types     text[],
  p_account_numbers   text[],
  p_audit_action      text  DEFAULT 'linkage.attach',
  p_actor_type        text  DEFAULT 'institution',
  p_origin            jsonb DEFAULT NULL
) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  v_stored       record;
  v_subject      subjects%ROWTYPE;
  v_name_changed boolean := false;
  v_attempt      int := 0;
  v_linkages     jsonb;
  v_conflict     jsonb;
  v_missing      int;
  v_created      int;
  v_result       jsonb;
BEGIN
  -- A concurrent request with the same key waits here until the first one commits.
  -- A key older than its time to live is claimed afresh.
  IF p_idempotency_key IS NOT NULL THEN
    INSERT INTO idempotency_keys AS k (institution_id, idempotency_key, request_fingerprint)
    VALUES (p_institution_id, p_idempotency_key, p_fingerprints[1])
    ON CONFLICT (institution_id, idempotency_key) DO UPDATE
       SET request_fingerprint = EXCLUDED.request_fingerprint, created_at = now(),
           response_status = NULL, response_body = NULL
     WHERE k.created_at < now() - p_idempotency_ttl;
    IF NOT FOUND THEN
      SELECT request_fingerprint, response_body INTO v_stored
        FROM idempotency_keys
       WHERE institution_id = p_institution_id AND idempotency_key = p_idempotency_key;
      IF NOT (v_stored.request_fingerprint = ANY (p_fingerprints)) OR v_stored.response_body IS NULL THEN
        RAISE EXCEPTION 'IDEMPOTENCY_KEY_REUSED';
      END IF;
      RETURN v_stored.response_body || '{"replayed": true}'::jsonb;
    END IF;
  END IF;

  -- The depositor's record at this institution. With one blind-index key version (no
  -- rotation under way) the insert finds or creates it in one statement; otherwise
  -- every version held is probed first.
  IF cardinality(p_bi_versions) > 1 THEN
    SELECT s.* INTO v_subject
      FROM unnest(p_bi_versions, p_bi_digests) WITH ORDINALITY AS k (version, digest, ord)
      CROSS JOIN LATERAL (
        SELECT * FROM subjects x
         WHERE x.institution_id = p_institution_id AND x.blind_index_version = k.version AND x.blind_index = k.digest
         LIMIT 1) s
     ORDER BY k.ord
     LIMIT 1;
  END IF;
  IF v_subject.id IS NULL THEN
    INSERT INTO subjects (id, institution_id, blind_index_version, blind_index, my_number_ciphertext,
                          data_key_id, name_kana, birth_date)
    VALUES (p_subject_id, p_institution_id, p_bi_versions[1], p_bi_digests[1], p_ciphertext,
            p_data_key_id, p_name_kana, p_birth_date)
    ON CONFLICT (institution_id, blind_index_version, blind_index) DO NOTHING
    RETURNING * INTO v_subject;
    IF NOT FOUND THEN -- already there, or created meanwhile by a concurrent request
      SELECT * INTO v_subject FROM subjects
       WHERE blind_index_version = p_bi_versions[1] AND blind_index = p_bi_digests[1]
         AND institution_id = p_institution_id;
    END IF;
  END IF;
  IF v_subject.birth_date <> p_birth_date THEN
    RAISE EXCEPTION 'SUBJECT_BIRTH_DATE_MISMATCH';
  END IF;
  IF v_subject.name_kana <> p_name_kana THEN
    UPDATE subjects SET name_kana = p_name_kana, updated_at = now() WHERE id = v_subject.id;
    v_name_changed := true;
  END IF;

  INSERT INTO attachments (id, institution_id, subject_id, branch_code, operator_id, api_key_id,
                           number_document, identity_document, consent_at,
                           numbering_request_id, origin_node_id, origin_institution_code)
  VALUES (p_attachment_id, p_institution_id, v_subject.id, p_branch_code, p_operator_id, p_api_key_id,
          p_number_document, p_identity_document, p_consent_at,
          (p_origin ->> 'requestId')::uuid, p_origin ->> 'nodeId', p_origin ->> 'institutionCode');

  -- Link what is free; an account already active stays as it is (the partial unique
  -- index decides, also against concurrent requests). Usually every account is new
  -- and the insert alone answers.
  WITH inserted AS (
    INSERT INTO linkages (id, institution_id, subject_id, attachment_id, branch_code, account_type, account_number)
    SELECT a.id, p_institution_id, v_subject.id, p_attachment_id, a.branch, a.type, a.number
      FROM unnest(p_linkage_ids, p_account_branches, p_account_types, p_account_numbers) AS a (id, branch, type, number)
    ON CONFLICT (institution_id, branch_code, account_type, account_number) WHERE status = 'active' DO NOTHING
    RETURNING id, branch_code, account_type, account_number, status, created_at)
  SELECT jsonb_agg(jsonb_build_object(
           'id', l.id, 'branchCode', l.branch_code, 'accountType', l.account_type, 'accountNumber', l.account_number,
           'status', l.status, 'createdAt', l.created_at, 'alreadyLinked', false) ORDER BY a.ord),
         count(*)
    INTO v_linkages, v_created
    FROM inserted l
    JOIN unnest(p_account_branches, p_account_types, p_account_numbers) WITH ORDINALITY AS a (branch, type, number, ord)
      ON l.branch_code = a.branch AND l.account_type = a.type AND l.account_number = a.number;

  -- Some accounts were already linked: to this subject (fine) or to another (refused).
  -- A conflicting linkage revoked between the insert and the look-up leaves the
  -- account free: try again.
  WHILE v_created < cardinality(p_account_branches) LOOP
    v_attempt := v_attempt + 1;
    IF v_attempt > 1 THEN
      INSERT INTO linkages (id, institution_id, subject_id, attachment_id, branch_code, account_type, account_number)
      SELECT a.id, p_institution_id, v_subject.id, p_attachment_id, a.branch, a.type, a.number
        FROM unnest(p_linkage_ids, p_account_branches, p_account_types, p_account_numbers) AS a (id, branch, type, number)
      ON CONFLICT (institution_id, branch_code, account_type, account_number) WHERE status = 'active' DO NOTHING;
    END IF;

    SELECT jsonb_agg(jsonb_build_object(
             'id', l.id, 'branchCode', a.branch, 'accountType', a.type, 'accountNumber', a.number,
             'status', l.status, 'createdAt', l.created_at,
             'alreadyLinked', l.attachment_id <> p_attachment_id) ORDER BY a.ord),
           count(*) FILTER (WHERE l.id IS NULL),
           count(*) FILTER (WHERE l.attachment_id = p_attachment_id),
           (array_agg(jsonb_build_object('branchCode', a.branch, 'accountType', a.type, 'accountNumber', a.number))
              FILTER (WHERE l.subject_id <> v_subject.id))[1]
      INTO v_linkages, v_missing, v_created, v_conflict
      FROM unnest(p_account_branches, p_account_types, p_account_numbers) WITH ORDINALITY AS a (branch, type, number, ord)
      -- LIMIT 1 keeps this a probe of the unique index per account, whatever the statistics.
      LEFT JOIN LATERAL (
        SELECT * FROM linkages x
         WHERE x.institution_id = p_institution_id AND x.branch_code = a.branch
           AND x.account_type = a.type AND x.account_number = a.number AND x.status = 'active'
         LIMIT 1) l ON true;

    IF v_conflict IS NOT NULL THEN
      RAISE EXCEPTION 'ACCOUNT_LINKED_TO_OTHER_SUBJECT' USING DETAIL = v_conflict::text;
    END IF;
    EXIT WHEN v_missing = 0;
    IF v_attempt >= 3 THEN
      RAISE EXCEPTION 'accounts neither linkable nor linked after % attempts', v_attempt USING ERRCODE = 'serialization_failure';
    END IF;
  END LOOP;

  INSERT INTO audit_events (institution_id, actor_type, api_key_id, branch_code, operator_id, request_id,
                            action, resource_type, resource_id, subject_id, details)
  VALUES (p_institution_id, p_actor_type, p_api_key_id, p_branch_code, p_operator_id, p_request_id,
          p_audit_action, 'attachment', p_attachment_id, v_subject.id,
          jsonb_build_object(
            'linkageIds', (SELECT jsonb_agg(x -> 'id') FROM jsonb_array_elements(v_linkages) x),
            'created', v_created,
            'alreadyLinked', jsonb_array_length(v_linkages) - v_created,
            'numberDocument', p_number_document,
            'identityDocument', p_identity_document,
            'nameChanged', v_name_changed)
          || CASE WHEN p_origin IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('origin', p_origin) END);

  v_result := jsonb_build_object(
    'attachmentId', p_attachment_id,
    'subject', jsonb_build_object('id', v_subject.id, 'nameKana', p_name_kana, 'birthDate', p_birth_date),
    'linkages', v_linkages,
    'created', v_created);
  IF p_idempotency_key IS NOT NULL THEN
    UPDATE idempotency_keys SET response_status = 201, response_body = v_result
     WHERE institution_id = p_institution_id AND idempotency_key = p_idempotency_key;
  END IF;
  RETURN v_result;
END
$fn$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION kouza_attach(uuid, uuid, text, text, interval, bytea[], uuid, smallint[], bytea[], bytea, uuid, text, date, uuid, text, text, text, text, timestamptz, uuid[], text[], text[], text[], text, text, jsonb)`);
    // Migration 0001 creates kouza_attach and kouza_attach_fallback together.
    await q.query(`DROP FUNCTION kouza_attach_fallback()`);
    await new AttachFunction1764140000001().up(q);
    await q.query(`
      ALTER TABLE attachments
        DROP CONSTRAINT attachments_numbering_origin,
        DROP COLUMN numbering_request_id,
        DROP COLUMN origin_node_id,
        DROP COLUMN origin_institution_code`);
  }
}
