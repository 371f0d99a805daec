import { Injectable } from '@nestjs/common';
import type { JWK } from 'jose';
import { DataSource } from 'typeorm';
import type { SqlExecutor } from '../database/sql-executor.js';
import { importPeerKeys, type PeerKeys } from './envelope.js';
import type { PeerNode } from './peer-client.js';

export interface PeerInstitution {
  code: string;
  name: string;
}

/** A registered peer node as stored: public JWKs, never imported keys. */
export interface PeerRecord {
  id: string;
  nodeId: string;
  endpointUrl: string;
  signingKey: JWK;
  encryptionKey: JWK;
  createdAt: Date;
  updatedAt: Date;
  disabledAt: Date | null;
  institutions: PeerInstitution[];
  /** Signing keys the peer rotated away from, with the time after which they are refused. */
  previousSigningKeys: PreviousSigningKey[];
  keysRefreshedAt: Date | null;
  /** The peer's own inbound quota (queries per minute, 0 = not limited); null = the configured default. */
  queriesPerMinute: number | null;
  /** iat of the key statement last believed on a refresh (NumericDate seconds); null = none since registration. */
  keyStatementIat: number | null;
}

export interface PreviousSigningKey {
  jwk: JWK;
  /** ISO 8601. */
  notAfter: string;
}

export interface PeerRegistration {
  id: string;
  nodeId: string;
  endpointUrl: string;
  signingKey: JWK;
  encryptionKey: JWK;
  /** Undefined: what is stored stays. */
  previousSigningKeys?: PreviousSigningKey[];
  /** Undefined: what is stored stays; null: the default. */
  queriesPerMinute?: number | null;
}

const SELECT_PEERS = `
  SELECT p.id, p.node_id AS "nodeId", p.endpoint_url AS "endpointUrl", p.signing_key AS "signingKey",
         p.encryption_key AS "encryptionKey", p.created_at AS "createdAt", p.updated_at AS "updatedAt",
         p.disabled_at AS "disabledAt", p.previous_signing_keys AS "previousSigningKeys",
         p.keys_refreshed_at AS "keysRefreshedAt", p.queries_per_minute AS "queriesPerMinute",
         p.key_statement_iat::float8 AS "keyStatementIat",
         COALESCE((SELECT jsonb_agg(jsonb_build_object('code', pi.code, 'name', pi.name) ORDER BY pi.code)
                     FROM peer_institutions pi WHERE pi.peer_id = p.id), '[]') AS institutions
    FROM peers p`;

/** Imported keys kept: importing costs more than the query that finds a peer. */
const MAX_CACHED_KEYS = 10_000;

/** All SQL about peer nodes and the institutions behind them. */
@Injectable()
export class PeersRepository {
  /**
   * Imported keys by node id and public key values: a re-registration with new keys
   * (in this process or another) makes a new entry, so an old key is never used again.
   */
  private readonly keyCache = new Map<string, Promise<PeerKeys>>();

  constructor(private readonly db: DataSource) {}

  /** Inserts the peer, or updates the one with this node id (and enables it again). */
  async upsert(executor: SqlExecutor, peer: PeerRegistration): Promise<{ id: string; created: boolean }> {
    const rows: { id: string; created: boolean }[] = await executor.query(
      `INSERT INTO peers (id, node_id, endpoint_url, signing_key, encryption_key, previous_signing_keys, queries_per_minute)
       VALUES ($1, $2, $3, $4, $5, COALESCE($6::jsonb, '[]'), $7::integer)
       ON CONFLICT (node_id) DO UPDATE
         SET endpoint_url = EXCLUDED.endpoint_url, signing_key = EXCLUDED.signing_key,
             encryption_key = EXCLUDED.encryption_key,
             previous_signing_keys = COALESCE($6::jsonb, peers.previous_signing_keys),
             queries_per_minute = CASE WHEN $8::boolean THEN $7::integer ELSE peers.queries_per_minute END,
             -- The operator's say-so on these keys: statements are compared from here on.
             key_statement_iat = NULL,
             updated_at = now(), disabled_at = NULL
       RETURNING id, (xmax = 0) AS created`,
      [
        peer.id,
        peer.nodeId,
        peer.endpointUrl,
        JSON.stringify(peer.signingKey),
        JSON.stringify(peer.encryptionKey),
        peer.previousSigningKeys === undefined ? null : JSON.stringify(peer.previousSigningKeys),
        peer.queriesPerMinute ?? null,
        peer.queriesPerMinute !== undefined,
      ],
    );
    return rows[0];
  }

  /**
   * Makes `institutions` exactly the peer's list. Returns the codes that are behind
   * another peer (left untouched; the caller refuses the registration).
   */
  async replaceInstitutions(executor: SqlExecutor, peerId: string, institutions: PeerInstitution[]): Promise<string[]> {
    const codes = institutions.map((i) => i.code);
    await executor.query(`DELETE FROM peer_institutions WHERE peer_id = $1 AND NOT (code = ANY ($2::text[]))`, [peerId, codes]);
    const rows: { code: string }[] = await executor.query(
      `INSERT INTO peer_institutions (code, name, peer_id)
       SELECT i.code, i.name, $1 FROM unnest($2::text[], $3::text[]) AS i (code, name)
       ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name WHERE peer_institutions.peer_id = EXCLUDED.peer_id
       RETURNING code`,
      [peerId, codes, institutions.map((i) => i.name)],
    );
    const written = new Set(rows.map((r) => r.code));
    return codes.filter((code) => !written.has(code));
  }

  /** Disables an enabled peer; undefined when there is no enabled peer of that node id. */
  async disable(executor: SqlExecutor, nodeId: string): Promise<{ id: string } | undefined> {
    // TypeORM answers an UPDATE with [rows, affected count].
    const [rows]: [{ id: string }[], number] = await executor.query(
      `UPDATE peers SET disabled_at = now(), updated_at = now() WHERE node_id = $1 AND disabled_at IS NULL RETURNING id`,
      [nodeId],
    );
    return rows[0];
  }

  async findByNodeId(nodeId: string, executor: SqlExecutor = this.db): Promise<PeerRecord | undefined> {
    const rows: PeerRecord[] = await executor.query(`${SELECT_PEERS} WHERE p.node_id = $1`, [nodeId]);
    return rows[0];
  }

  list(): Promise<PeerRecord[]> {
    return this.db.query(`${SELECT_PEERS} ORDER BY p.node_id`);
  }

  /** Every enabled peer, ready to be sent a query. */
  async listActive(): Promise<PeerNode[]> {
    const rows: PeerRecord[] = await this.db.query(`${SELECT_PEERS} WHERE p.disabled_at IS NULL ORDER BY p.node_id`);
    return Promise.all(rows.map((row) => this.toPeerNode(row)));
  }

  /**
   * The enabled peers among these ids. A disabled peer is left out even when an inquiry
   * chose it before it was disabled: once the operator disables a node, no number is
   * sent to it any more.
   */
  async findByIds(ids: string[]): Promise<PeerNode[]> {
    if (ids.length === 0) return [];
    const rows: PeerRecord[] = await this.db.query(
      `${SELECT_PEERS} WHERE p.id = ANY ($1::uuid[]) AND p.disabled_at IS NULL ORDER BY p.node_id`,
      [ids],
    );
    return Promise.all(rows.map((row) => this.toPeerNode(row)));
  }

  /** The keys of an enabled peer: whom an inbound message may come from. */
  async findActiveKeys(nodeId: string): Promise<{ id: string; keys: PeerKeys; queriesPerMinute: number | null } | undefined> {
    const rows: Pick<PeerRecord, 'id' | 'nodeId' | 'signingKey' | 'encryptionKey' | 'previousSigningKeys' | 'queriesPerMinute'>[] =
      await this.db.query(
        `SELECT id, node_id AS "nodeId", signing_key AS "signingKey", encryption_key AS "encryptionKey",
                previous_signing_keys AS "previousSigningKeys", queries_per_minute AS "queriesPerMinute"
           FROM peers WHERE node_id = $1 AND disabled_at IS NULL`,
        [nodeId],
      );
    return rows[0] && { id: rows[0].id, keys: await this.keysOf(rows[0]), queriesPerMinute: rows[0].queriesPerMinute };
  }

  /** The keys a peer publishes now (its GET /v1/node), replacing what was stored. */
  async updateKeys(
    executor: SqlExecutor,
    id: string,
    keys: { signingKey: JWK; encryptionKey: JWK; previousSigningKeys: PreviousSigningKey[] },
    /** The iat of the key statement that endorsed them; undefined: what is stored stays. */
    keyStatementIat?: number,
  ): Promise<void> {
    await executor.query(
      `UPDATE peers SET signing_key = $2, encryption_key = $3, previous_signing_keys = $4,
                        key_statement_iat = COALESCE($5::bigint, key_statement_iat),
                        keys_refreshed_at = now(), updated_at = now()
        WHERE id = $1`,
      [id, JSON.stringify(keys.signingKey), JSON.stringify(keys.encryptionKey), JSON.stringify(keys.previousSigningKeys), keyStatementIat ?? null],
    );
  }

  private async toPeerNode(row: PeerRecord): Promise<PeerNode> {
    return {
      id: row.id,
      nodeId: row.nodeId,
      endpointUrl: row.endpointUrl,
      keys: await this.keysOf(row),
      institutions: row.institutions,
    };
  }

  private keysOf(row: Pick<PeerRecord, 'nodeId' | 'signingKey' | 'encryptionKey' | 'previousSigningKeys'>): Promise<PeerKeys> {
    const previous = (row.previousSigningKeys ?? []).map((p) => ({ jwk: p.jwk, notAfter: Math.floor(Date.parse(p.notAfter) / 1000) }));
    const cacheKey = `${row.nodeId} ${row.signingKey.x} ${row.encryptionKey.x} ${previous.map((p) => `${p.jwk.x}@${p.notAfter}`).join(',')}`;
    let keys = this.keyCache.get(cacheKey);
    if (!keys) {
      if (this.keyCache.size >= MAX_CACHED_KEYS) this.keyCache.clear();
      keys = importPeerKeys(row.nodeId, row.signingKey, row.encryptionKey, previous);
      // A key that fails to import is not cached: the next call reports the error again.
      keys.catch(() => this.keyCache.delete(cacheKey));
      this.keyCache.set(cacheKey, keys);
    }
    return keys;
  }
}
