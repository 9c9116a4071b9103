/**
 * The PlaneStore service: the plane's durable state on `@effect/sql` — principals, tokens, enroll
 * tokens, runners, runs, their event chains, claims (nonces), blobs and sealed secrets. Every
 * method that must be atomic is one statement or one transaction; nothing here decides policy.
 */
import { Migrator, SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Context, Data, Effect, Layer, Option } from "effect"
import type { Timestamp } from "../protocol/Ids.js"
import init from "./migrations/0001_init.js"

export class StoreError extends Data.TaggedError("StoreError")<{ readonly operation: string; readonly cause: unknown }> {
  override get message() {
    return `plane store failure in ${this.operation}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

export type PrincipalRow = { readonly id: string; readonly kind: string; readonly role: string; readonly created_at: string }
export type TokenRow = { readonly id: string; readonly secret_hash: string; readonly subject_kind: string; readonly subject_id: string }
export type EnrollTokenRow = {
  readonly id: string
  readonly secret_hash: string
  readonly pool: string
  readonly expires_at: string
  readonly used_at: string | null
}
export type RunnerRow = {
  readonly id: string
  readonly pool: string
  readonly key_id: string
  readonly public_key: string
  readonly enrolled_at: string
  readonly last_seen_at: string | null
}
export type RunRow = {
  readonly id: string
  readonly state: string
  readonly pool: string
  readonly agent: string
  readonly tier: string
  readonly requester_id: string
  readonly requested_by: string
  readonly approved_by: string | null
  readonly decision: string
  readonly consent_rules: string
  readonly draft: string
  readonly pending_events: string
  readonly contract: string | null
  readonly contract_hash: string | null
  readonly receipt: string | null
  readonly runner_id: string | null
  readonly lease_expires_at: string | null
  readonly event_count: number
  readonly head: string | null
  readonly failure_class: string | null
  readonly failure_message: string | null
  readonly created_at: string
  readonly queued_at: string | null
  readonly updated_at: string
}
export type ClaimRow = {
  readonly nonce: string
  readonly secret_hash: string
  readonly run_id: string
  readonly runner_id: string
  readonly spent_at: string | null
}
export type EventRow = { readonly seq: number; readonly hash: string; readonly entry: string }

export type RunPatch = Partial<Omit<RunRow, "id" | "created_at">>

export interface RunFilter {
  readonly state?: string
  readonly pool?: string
  readonly requesterId?: string
  readonly since?: string
  readonly limit: number
}

type Op<A> = Effect.Effect<A, StoreError>

export interface PlaneStoreShape {
  /** Runs `effect` in one transaction: every store call inside it commits or rolls back together. */
  readonly transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StoreError, R>
  readonly getMeta: (key: string) => Op<Option.Option<string>>
  /** Sets a key only if it is unset; false when it already had a value. */
  readonly initMeta: (key: string, value: string) => Op<boolean>

  readonly insertPrincipal: (row: PrincipalRow) => Op<boolean>
  readonly getPrincipal: (id: string) => Op<Option.Option<PrincipalRow>>
  readonly listPrincipals: Op<ReadonlyArray<PrincipalRow>>
  readonly insertToken: (row: TokenRow, now: Timestamp) => Op<void>
  readonly getToken: (id: string) => Op<Option.Option<TokenRow>>

  readonly insertEnrollToken: (row: EnrollTokenRow & { readonly created_by: string; readonly created_at: string }) => Op<void>
  readonly getEnrollToken: (id: string) => Op<Option.Option<EnrollTokenRow>>
  /** Marks the token used, only if unused and unexpired; false when another enrollment won. */
  readonly useEnrollToken: (id: string, runnerId: string, now: Timestamp) => Op<boolean>

  readonly insertRunner: (row: RunnerRow) => Op<boolean>
  readonly getRunner: (id: string) => Op<Option.Option<RunnerRow>>
  readonly listRunners: Op<ReadonlyArray<RunnerRow>>
  readonly touchRunner: (id: string, now: Timestamp) => Op<void>

  readonly insertRun: (row: RunRow) => Op<void>
  readonly getRun: (id: string) => Op<Option.Option<RunRow>>
  readonly listRuns: (filter: RunFilter) => Op<ReadonlyArray<RunRow>>
  /** Applies the patch only while the run is in one of `from`; the updated row, or none. */
  readonly updateRun: (id: string, from: ReadonlyArray<string>, patch: RunPatch) => Op<Option.Option<RunRow>>
  /** Atomically moves the oldest queued run of `pool` to running for `runnerId`. */
  readonly claimNext: (pool: string, runnerId: string, leaseUntil: Timestamp, now: Timestamp) => Op<Option.Option<RunRow>>
  readonly expiredLeases: (now: Timestamp) => Op<ReadonlyArray<RunRow>>
  readonly runsUpdatedSince: (since: string) => Op<ReadonlyArray<RunRow>>

  readonly insertEvents: (runId: string, rows: ReadonlyArray<EventRow>) => Op<void>
  readonly getEvents: (runId: string, fromSeq?: number) => Op<ReadonlyArray<EventRow>>

  readonly insertClaim: (row: ClaimRow & { readonly issued_at: string }) => Op<void>
  readonly getClaim: (nonce: string) => Op<Option.Option<ClaimRow>>
  readonly spendClaims: (runId: string, now: Timestamp) => Op<void>

  /** Stores a blob unless present; true when it was new. */
  readonly putBlob: (hash: string, data: Uint8Array, now: Timestamp) => Op<boolean>
  readonly getBlob: (hash: string) => Op<Option.Option<Uint8Array>>
  readonly blobSizes: (hashes: ReadonlyArray<string>) => Op<ReadonlyMap<string, number>>
  readonly grantBlob: (hash: string, holder: string) => Op<void>
  /** The holders among `holders` that may read the blob. */
  readonly blobHolders: (hash: string) => Op<ReadonlyArray<string>>

  readonly putSecret: (name: string, sealed: string, now: Timestamp) => Op<void>
  readonly getSecret: (name: string) => Op<Option.Option<string>>
  readonly listSecrets: Op<ReadonlyArray<{ readonly name: string; readonly updated_at: string }>>
  readonly deleteSecret: (name: string) => Op<boolean>
}

export class PlaneStore extends Context.Tag("warrant/plane/PlaneStore")<PlaneStore, PlaneStoreShape>() {}

const migrate = Migrator.make({})({ loader: Migrator.fromRecord({ "0001_init": init }), table: "warrant_migrations" })

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* migrate.pipe(Effect.orDieWith((e) => new Error(`plane store migration failed: ${e.message}`)))

  const op = (operation: string) => <A>(effect: Effect.Effect<A, SqlError>): Op<A> =>
    Effect.mapError(effect, (cause) => new StoreError({ operation, cause }))
  const first = <A>(rows: ReadonlyArray<A>) => Option.fromNullable(rows[0])

  const setClause = (patch: RunPatch) => {
    const entries = Object.entries(patch).filter(([, v]) => v !== undefined)
    return sql.join(", ", false)(entries.map(([k, v]) => sql`${sql(k)} = ${v as string | number | null}`))
  }

  return PlaneStore.of({
    transaction: (effect) => sql.withTransaction(effect).pipe(
      Effect.catchTag("SqlError", (cause) => Effect.fail(new StoreError({ operation: "transaction", cause })))
    ),
    getMeta: (key) => op("getMeta")(sql<{ value: string }>`SELECT value FROM meta WHERE key = ${key}`.pipe(Effect.map((r) => Option.map(first(r), (x) => x.value)))),
    initMeta: (key, value) =>
      op("initMeta")(sql<{ key: string }>`INSERT INTO meta (key, value) VALUES (${key}, ${value}) ON CONFLICT (key) DO NOTHING RETURNING key`.pipe(Effect.map((r) => r.length === 1))),

    insertPrincipal: (row) =>
      op("insertPrincipal")(sql<{ id: string }>`INSERT INTO principals ${sql.insert(row)} ON CONFLICT (id) DO NOTHING RETURNING id`.pipe(Effect.map((r) => r.length === 1))),
    getPrincipal: (id) => op("getPrincipal")(sql<PrincipalRow>`SELECT * FROM principals WHERE id = ${id}`.pipe(Effect.map(first))),
    listPrincipals: op("listPrincipals")(sql<PrincipalRow>`SELECT * FROM principals ORDER BY created_at, id`),
    insertToken: (row, now) => op("insertToken")(sql`INSERT INTO tokens ${sql.insert({ ...row, created_at: now })}`.pipe(Effect.asVoid)),
    getToken: (id) => op("getToken")(sql<TokenRow>`SELECT id, secret_hash, subject_kind, subject_id FROM tokens WHERE id = ${id}`.pipe(Effect.map(first))),

    insertEnrollToken: (row) => op("insertEnrollToken")(sql`INSERT INTO enroll_tokens ${sql.insert(row)}`.pipe(Effect.asVoid)),
    getEnrollToken: (id) =>
      op("getEnrollToken")(sql<EnrollTokenRow>`SELECT id, secret_hash, pool, expires_at, used_at FROM enroll_tokens WHERE id = ${id}`.pipe(Effect.map(first))),
    useEnrollToken: (id, runnerId, now) =>
      op("useEnrollToken")(
        sql<{ id: string }>`UPDATE enroll_tokens SET used_at = ${now}, used_by = ${runnerId}
          WHERE id = ${id} AND used_at IS NULL AND expires_at > ${now} RETURNING id`.pipe(Effect.map((r) => r.length === 1))
      ),

    insertRunner: (row) =>
      op("insertRunner")(sql<{ id: string }>`INSERT INTO runners ${sql.insert(row)} ON CONFLICT (id) DO NOTHING RETURNING id`.pipe(Effect.map((r) => r.length === 1))),
    getRunner: (id) => op("getRunner")(sql<RunnerRow>`SELECT * FROM runners WHERE id = ${id}`.pipe(Effect.map(first))),
    listRunners: op("listRunners")(sql<RunnerRow>`SELECT * FROM runners ORDER BY enrolled_at, id`),
    touchRunner: (id, now) => op("touchRunner")(sql`UPDATE runners SET last_seen_at = ${now} WHERE id = ${id}`.pipe(Effect.asVoid)),

    insertRun: (row) => op("insertRun")(sql`INSERT INTO runs ${sql.insert(row)}`.pipe(Effect.asVoid)),
    getRun: (id) => op("getRun")(sql<RunRow>`SELECT * FROM runs WHERE id = ${id}`.pipe(Effect.map(first))),
    listRuns: (filter) =>
      op("listRuns")(sql<RunRow>`SELECT * FROM runs WHERE ${
        sql.and([
          ...(filter.state === undefined ? [] : [sql`state = ${filter.state}`]),
          ...(filter.pool === undefined ? [] : [sql`pool = ${filter.pool}`]),
          ...(filter.requesterId === undefined ? [] : [sql`requester_id = ${filter.requesterId}`]),
          ...(filter.since === undefined ? [] : [sql`created_at >= ${filter.since}`])
        ])
      } ORDER BY created_at DESC, id DESC LIMIT ${filter.limit}`),
    updateRun: (id, from, patch) =>
      op("updateRun")(
        sql<RunRow>`UPDATE runs SET ${setClause(patch)} WHERE id = ${id} AND ${sql.in("state", from)} RETURNING *`.pipe(Effect.map(first))
      ),
    claimNext: (pool, runnerId, leaseUntil, now) =>
      op("claimNext")(
        sql<RunRow>`UPDATE runs SET state = 'running', runner_id = ${runnerId}, lease_expires_at = ${leaseUntil}, updated_at = ${now}
          WHERE id = (SELECT id FROM runs WHERE pool = ${pool} AND state = 'queued' ORDER BY queued_at, id LIMIT 1)
          AND state = 'queued' RETURNING *`.pipe(Effect.map(first))
      ),
    expiredLeases: (now) =>
      op("expiredLeases")(sql<RunRow>`SELECT * FROM runs WHERE state = 'running' AND lease_expires_at <= ${now} ORDER BY lease_expires_at`),
    runsUpdatedSince: (since) => op("runsUpdatedSince")(sql<RunRow>`SELECT * FROM runs WHERE updated_at >= ${since} ORDER BY updated_at, id`),

    insertEvents: (runId, rows) =>
      rows.length === 0
        ? Effect.void
        : op("insertEvents")(sql`INSERT INTO events ${sql.insert(rows.map((r) => ({ run_id: runId, ...r })))}`.pipe(Effect.asVoid)),
    getEvents: (runId, fromSeq = 0) =>
      op("getEvents")(sql<EventRow>`SELECT seq, hash, entry FROM events WHERE run_id = ${runId} AND seq >= ${fromSeq} ORDER BY seq`),

    insertClaim: (row) => op("insertClaim")(sql`INSERT INTO claims ${sql.insert(row)}`.pipe(Effect.asVoid)),
    getClaim: (nonce) =>
      op("getClaim")(sql<ClaimRow>`SELECT nonce, secret_hash, run_id, runner_id, spent_at FROM claims WHERE nonce = ${nonce}`.pipe(Effect.map(first))),
    spendClaims: (runId, now) => op("spendClaims")(sql`UPDATE claims SET spent_at = ${now} WHERE run_id = ${runId} AND spent_at IS NULL`.pipe(Effect.asVoid)),

    putBlob: (hash, data, now) =>
      op("putBlob")(
        sql<{ hash: string }>`INSERT INTO blobs (hash, size, data, created_at) VALUES (${hash}, ${data.byteLength}, ${data}, ${now})
          ON CONFLICT (hash) DO NOTHING RETURNING hash`.pipe(Effect.map((r) => r.length === 1))
      ),
    getBlob: (hash) =>
      op("getBlob")(sql<{ data: Uint8Array }>`SELECT data FROM blobs WHERE hash = ${hash}`.pipe(Effect.map((r) => Option.map(first(r), (x) => new Uint8Array(x.data))))),
    blobSizes: (hashes) =>
      hashes.length === 0
        ? Effect.succeed(new Map())
        : op("blobSizes")(
          sql<{ hash: string; size: number }>`SELECT hash, size FROM blobs WHERE ${sql.in("hash", hashes)}`.pipe(
            Effect.map((rows) => new Map(rows.map((r) => [r.hash, r.size])))
          )
        ),
    grantBlob: (hash, holder) =>
      op("grantBlob")(sql`INSERT INTO blob_access (hash, holder) VALUES (${hash}, ${holder}) ON CONFLICT (hash, holder) DO NOTHING`.pipe(Effect.asVoid)),
    blobHolders: (hash) =>
      op("blobHolders")(sql<{ holder: string }>`SELECT holder FROM blob_access WHERE hash = ${hash}`.pipe(Effect.map((r) => r.map((x) => x.holder)))),

    putSecret: (name, sealed, now) =>
      op("putSecret")(
        sql`INSERT INTO secrets (name, sealed, updated_at) VALUES (${name}, ${sealed}, ${now})
          ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`.pipe(Effect.asVoid)
      ),
    getSecret: (name) => op("getSecret")(sql<{ sealed: string }>`SELECT sealed FROM secrets WHERE name = ${name}`.pipe(Effect.map((r) => Option.map(first(r), (x) => x.sealed)))),
    listSecrets: op("listSecrets")(sql<{ name: string; updated_at: string }>`SELECT name, updated_at FROM secrets ORDER BY name`),
    deleteSecret: (name) =>
      op("deleteSecret")(sql<{ name: string }>`DELETE FROM secrets WHERE name = ${name} RETURNING name`.pipe(Effect.map((r) => r.length === 1)))
  })
})

export const layer: Layer.Layer<PlaneStore, never, SqlClient.SqlClient> = Layer.effect(PlaneStore, make)

/** The embedded default: one SQLite file in WAL mode, or ":memory:" for tests. */
export const layerSqlite = (filename: string): Layer.Layer<PlaneStore> =>
  layer.pipe(Layer.provide(SqliteClient.layer({ filename })), Layer.orDie)
