/**
 * The plane's first schema. Portable SQL (TEXT, INTEGER, BLOB, RETURNING), so a Postgres layer
 * can run the same migration with BLOB read as BYTEA. Timestamps are ISO-8601 UTC text, which
 * sorts correctly as text.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.all([
    sql`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
    sql`CREATE TABLE principals (
      id TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      role TEXT NOT NULL,
      created_at TEXT NOT NULL
    )`,
    // Bearer tokens are "<prefix>_<id>.<secret>": looked up by id, the secret's SHA-256 compared.
    sql`CREATE TABLE tokens (
      id TEXT PRIMARY KEY,
      secret_hash TEXT NOT NULL,
      subject_kind TEXT NOT NULL,
      subject_id TEXT NOT NULL,
      created_at TEXT NOT NULL
    )`,
    sql`CREATE TABLE enroll_tokens (
      id TEXT PRIMARY KEY,
      secret_hash TEXT NOT NULL,
      pool TEXT NOT NULL,
      created_by TEXT NOT NULL,
      created_at TEXT NOT NULL,
      expires_at TEXT NOT NULL,
      used_at TEXT,
      used_by TEXT
    )`,
    sql`CREATE TABLE runners (
      id TEXT PRIMARY KEY,
      pool TEXT NOT NULL,
      key_id TEXT NOT NULL,
      public_key TEXT NOT NULL,
      enrolled_at TEXT NOT NULL,
      last_seen_at TEXT
    )`,
    sql`CREATE TABLE runs (
      id TEXT PRIMARY KEY,
      state TEXT NOT NULL,
      pool TEXT NOT NULL,
      agent TEXT NOT NULL,
      tier TEXT NOT NULL,
      requester_id TEXT NOT NULL,
      requested_by TEXT NOT NULL,
      approved_by TEXT,
      decision TEXT NOT NULL,
      consent_rules TEXT NOT NULL,
      draft TEXT NOT NULL,
      pending_events TEXT NOT NULL,
      contract TEXT,
      contract_hash TEXT,
      receipt TEXT,
      runner_id TEXT,
      lease_expires_at TEXT,
      event_count INTEGER NOT NULL,
      head TEXT,
      failure_class TEXT,
      failure_message TEXT,
      created_at TEXT NOT NULL,
      queued_at TEXT,
      updated_at TEXT NOT NULL
    )`,
    sql`CREATE INDEX runs_claimable ON runs (pool, state, queued_at)`,
    sql`CREATE INDEX runs_lease ON runs (state, lease_expires_at)`,
    sql`CREATE INDEX runs_updated ON runs (updated_at)`,
    sql`CREATE TABLE events (
      run_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      hash TEXT NOT NULL,
      entry TEXT NOT NULL,
      PRIMARY KEY (run_id, seq)
    )`,
    // One row per claim: its nonce is the token id, kept after the run ends so a replay is refused.
    sql`CREATE TABLE claims (
      nonce TEXT PRIMARY KEY,
      secret_hash TEXT NOT NULL,
      run_id TEXT NOT NULL,
      runner_id TEXT NOT NULL,
      issued_at TEXT NOT NULL,
      spent_at TEXT
    )`,
    sql`CREATE TABLE blobs (hash TEXT PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL, created_at TEXT NOT NULL)`,
    // Who may read a blob: "principal:<id>" for its uploader, "run:<runId>" for a run that references or produced it.
    sql`CREATE TABLE blob_access (hash TEXT NOT NULL, holder TEXT NOT NULL, PRIMARY KEY (hash, holder))`,
    sql`CREATE TABLE secrets (name TEXT PRIMARY KEY, sealed TEXT NOT NULL, updated_at TEXT NOT NULL)`
  ], { discard: true }))
