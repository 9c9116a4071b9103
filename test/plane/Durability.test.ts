import { FetchHttpClient, FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Either, HashMap, Layer, Logger, LogLevel, Option, Redacted, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { inspect } from "node:util"
import { makeClient } from "../../src/plane/Client.js"
import { PlaneInfo } from "../../src/plane/PlaneInfo.js"
import * as Seal from "../../src/plane/Seal.js"
import { EnvName, type RunId, SecretName } from "../../src/protocol/Ids.js"
import { verifyBundle } from "../../src/receipt/Verify.js"
import { samplePolicy } from "../../src/testkit/SampleRun.js"
import * as TestPlane from "../../src/testkit/TestPlane.js"
import {
  claimClient,
  claimOrFail,
  completeOne,
  type EnrolledRunner,
  enrollRunner,
  freshSigner,
  type Principals,
  principals,
  raw,
  request,
  runnerSide
} from "./support/PlaneKit.js"

// better-sqlite3 (the driver under @effect/sql-sqlite-node) ships no types; this is the little we use of it.
interface SqliteDatabase {
  prepare(sql: string): { all(): Array<Record<string, unknown>> }
  exec(sql: string): void
  close(): void
}
const Database = createRequire(import.meta.url)("better-sqlite3") as new(file: string, options: { readonly readonly: boolean; readonly fileMustExist: boolean }) => SqliteDatabase

/** Every row of every table (as sqlite_master lists them), read through a separate read-only connection. */
const dumpTables = (file: string): Record<string, ReadonlyArray<Record<string, unknown>>> => {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => String(r.name))
    return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t.replaceAll("\"", "\"\"")}" ORDER BY rowid`).all()]))
  } finally {
    db.close()
  }
}

/** A SQLite file in a fresh temp directory, removed (and checked gone) when `use` ends. */
const withDbFile = <A, E, R>(use: (file: string) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const [dir, result] = yield* Effect.scoped(Effect.gen(function*() {
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "warrant-durability-" })
      return [dir, yield* use(join(dir, "plane.db"))] as const
    }))
    expect(yield* fs.exists(dir)).toBe(false)
    return result
  }).pipe(Effect.provide(NodeFileSystem.layer))

/** Runs `effect` against a plane on `options` in its own scope: the plane (server, SQLite connection) is closed when it returns. */
const onPlane = (options: TestPlane.TestPlaneOptions) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, TestPlane.layer(options))

const createQueued = (p: Pick<Principals, "requester">, overrides?: Parameters<typeof request>[0]) =>
  Effect.gen(function*() {
    const created = yield* p.requester.runs.create({ payload: request(overrides) })
    if (created._tag !== "created") return yield* Effect.dieMessage("expected a created run")
    expect(created.run.state).toBe("queued")
    return created.run.runId
  })

/** The principals of a plane restarted on the same store: the old tokens against the new address. */
const reconnect = (url: string, planeKey: Principals["planeKey"], tokens: { readonly admin: string; readonly requester: string; readonly approver: string }) =>
  Effect.gen(function*() {
    return {
      url,
      planeKey,
      adminToken: tokens.admin,
      admin: yield* makeClient(url, tokens.admin),
      requester: yield* makeClient(url, tokens.requester),
      requesterToken: tokens.requester,
      approver: yield* makeClient(url, tokens.approver),
      approverToken: tokens.approver,
      anonymous: yield* makeClient(url)
    } satisfies Principals
  })

const reconnectRunner = (url: string, runner: Omit<EnrolledRunner, "client">) =>
  Effect.map(makeClient(url, runner.token), (client): EnrolledRunner => ({ ...runner, client }))

const verified = (p: Pick<Principals, "requester" | "planeKey">, runner: EnrolledRunner, runId: RunId) =>
  Effect.map(p.requester.runs.bundle({ path: { runId } }), (bundle) =>
    verifyBundle(JSON.parse(JSON.stringify(bundle)), {
      trustedKeys: [{ keyId: p.planeKey.keyId, roles: ["issuer", "plane"] }, { keyId: runner.signer.keyId, roles: ["runner"] }]
    }))

// --- secrets -------------------------------------------------------------------------------

const secretName = Schema.decodeSync(SecretName)("API_TOKEN")
const secretPolicy = { ...samplePolicy, releasableSecrets: [secretName] }

/** A request whose run gets API_TOKEN released into its environment. */
const withSecret = (): Parameters<typeof request>[0] => {
  const base = request()
  return { execution: { ...base.execution, env: { ...base.execution.env, secrets: [{ env: Schema.decodeSync(EnvName)("API_TOKEN"), secretName }] } } }
}

const distinctiveValue = () => `s3cr3t-${randomBytes(16).toString("hex")}`

/**
 * The forms a value could be written in: its UTF-8 and UTF-16 bytes, hex (both cases), base64 and
 * base64url — each also as the stable core of its encoding at the two other byte alignments, as it
 * would appear inside a longer encoded string.
 */
const forms = (value: string): ReadonlyArray<{ readonly label: string; readonly text?: string; readonly bytes: Buffer }> => {
  const utf8 = Buffer.from(value, "utf8")
  const texts: Array<[string, string]> = [["utf8", value], ["hex", utf8.toString("hex")], ["HEX", utf8.toString("hex").toUpperCase()]]
  for (const encoding of ["base64", "base64url"] as const) {
    texts.push([encoding, utf8.toString(encoding).replace(/=+$/, "")])
    for (const shift of [1, 2]) {
      const shifted = Buffer.concat([Buffer.alloc(shift), utf8]).toString(encoding).replace(/=+$/, "")
      texts.push([`${encoding}+${shift}`, shifted.slice(4, -4)])
    }
  }
  return [
    ...texts.map(([label, text]) => ({ label, text, bytes: Buffer.from(text, "latin1") })),
    { label: "utf16le", bytes: Buffer.from(value, "utf16le") }
  ]
}

/** The labels of the forms of the value found in `data`. */
const foundIn = (data: Buffer | string, of: ReturnType<typeof forms>): ReadonlyArray<string> =>
  of.filter((f) => typeof data === "string" ? f.text !== undefined && data.includes(f.text) : data.includes(f.bytes)).map((f) => f.label)

/** The database file and its -wal and -shm companions, those that exist. */
const filesOf = (file: string) => [file, `${file}-wal`, `${file}-shm`].filter((f) => existsSync(f))

/** Every cell of every table that holds a form of the value, as "table.column[row]: form". */
const cellsHolding = (tables: ReturnType<typeof dumpTables>, of: ReturnType<typeof forms>): ReadonlyArray<string> =>
  Object.entries(tables).flatMap(([table, rows]) =>
    rows.flatMap((row, i) =>
      Object.entries(row).flatMap(([column, cell]) => {
        const data = Buffer.isBuffer(cell) || cell instanceof Uint8Array ? Buffer.from(cell) : String(cell)
        return foundIn(data, of).map((label) => `${table}.${column}[${i}]: ${label}`)
      })))

// --- what the plane says: its log lines and its HTTP responses ---------------------------------

interface Recorded {
  readonly logs: Array<string>
  readonly responses: Array<{ readonly method: string; readonly url: string; readonly status: number; readonly body: string }>
}

/**
 * Replaces the default logger (at every level) with one that keeps each message, cause,
 * annotation and span, and gives the typed clients a fetch that keeps each response body.
 */
const recording = (recorded: Recorded) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.provideService(FetchHttpClient.Fetch, async (input, init) => {
      const response = await globalThis.fetch(input, init)
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url
      recorded.responses.push({ method: init?.method ?? "GET", url, status: response.status, body: await response.clone().text() })
      return response
    }),
    Effect.provide(Layer.merge(
      Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ annotations, cause, logLevel, message, spans }) => {
          recorded.logs.push([
            logLevel.label,
            inspect(message, { depth: 20 }),
            Cause.isEmpty(cause) ? "" : Cause.pretty(cause, { renderErrorCause: true }),
            inspect(HashMap.toEntries(annotations), { depth: 20 }),
            inspect([...spans].map((s) => s.label))
          ].join(" "))
        })
      ),
      Logger.minimumLogLevel(LogLevel.All)
    ))
  )

// -------------------------------------------------------------------------------------------

describe("the plane's store on a file", () => {
  it.live("keeps runs, principals, runners, their tokens and claim nonces across a restart", () =>
    withDbFile((filename) =>
      Effect.gen(function*() {
        const options = { filename, signer: freshSigner(), masterKey: TestPlane.freshMasterKey() }

        const before = yield* Effect.gen(function*() {
          const p = yield* principals
          const runner = yield* enrollRunner(p, "runner-a")

          const doneId = yield* createQueued(p)
          const done = yield* completeOne(p, runner)
          expect(done.runId).toBe(doneId)
          expect(done.completed.run.state).toBe("completed")

          // A run claimed and half-posted before the restart, finished after it.
          const liveId = yield* createQueued(p)
          const live = yield* claimOrFail(runner)
          expect(live.contract.runId).toBe(liveId)
          const side = yield* runnerSide(p, runner, live)
          const half = yield* (yield* claimClient(p, live)).runner.postEvents({ path: { runId: liveId }, payload: { entries: side.fresh.slice(0, 2) } })
          expect(half.stored).toBe(2)

          const queuedId = yield* createQueued(p)
          const states = (yield* p.admin.runs.list({ urlParams: {} })).map((r) => [r.runId, r.state] as const)
          expect(new Map(states)).toEqual(new Map([[doneId, "completed"], [liveId, "running"], [queuedId, "queued"]]))
          return {
            tokens: { admin: p.adminToken, requester: p.requesterToken, approver: p.approverToken },
            planeKey: p.planeKey,
            runner: { runnerId: runner.runnerId, token: runner.token, signer: runner.signer },
            principals: yield* p.admin.admin.listPrincipals(),
            runners: yield* p.admin.admin.listRunners(),
            doneId,
            doneClaimToken: Redacted.value(done.claimed.claimToken),
            liveId,
            liveClaimToken: Redacted.value(live.claimToken),
            side,
            queuedId,
            states
          }
        }).pipe(onPlane(options))

        expect(dumpTables(filename)["claims"]!.map((c) => [c.run_id, c.spent_at === null])).toEqual([[before.doneId, false], [before.liveId, true]])

        yield* Effect.gen(function*() {
          const info = yield* PlaneInfo
          // The admin was created on the first start only.
          expect(info.adminToken).toEqual(Option.none())
          expect(info.planeKey).toEqual(before.planeKey)
          const p = yield* reconnect(info.url, info.planeKey, before.tokens)

          // Principals, runners and their tokens: the old tokens authenticate against the new plane.
          expect(yield* p.admin.admin.listPrincipals()).toEqual(before.principals)
          expect(before.principals.map((x) => [x.id, x.role])).toEqual([["admin", "admin"], ["alice", "requester"], ["bob", "approver"]])
          expect(yield* p.admin.admin.listRunners()).toEqual(before.runners)
          const requesterRuns = yield* p.requester.runs.list({ urlParams: {} })
          expect(new Map(requesterRuns.map((r) => [r.runId, r.state]))).toEqual(new Map(before.states))
          expect((yield* p.approver.runs.get({ path: { runId: before.doneId } })).receipt?.signatures.map((s) => s.role)).toEqual(["runner", "plane"])

          // A claim token spent before the restart stays spent: its nonce survived.
          for (const [method, path, body] of [["POST", `/runs/${before.doneId}/heartbeat`, undefined], ["POST", `/runs/${before.doneId}/events`, JSON.stringify({ entries: before.side.fresh })]] as const) {
            const refused = yield* raw(info.url, method, path, { token: before.doneClaimToken, ...(body === undefined ? {} : { body }) })
            expect(refused.status).toBe(401)
            expect(refused.body).toMatchObject({ error: "Unauthorized", details: { reason: "spent" } })
          }

          // A live claim token from before the restart still posts events and completes its run.
          const liveClaim = yield* makeClient(info.url, before.liveClaimToken)
          const lease = yield* liveClaim.runner.heartbeat({ path: { runId: before.liveId } })
          expect(Date.parse(lease.leaseExpiresAt)).toBeGreaterThan(Date.now())
          const rest = yield* liveClaim.runner.postEvents({ path: { runId: before.liveId }, payload: { entries: before.side.fresh.slice(2) } })
          expect(rest).toMatchObject({ stored: before.side.fresh.length - 2, count: before.side.entries.length, head: before.side.entries.at(-1)!.hash })
          const liveDone = yield* liveClaim.runner.complete({ path: { runId: before.liveId }, payload: { receipt: before.side.receipt } })
          expect(liveDone.run.state).toBe("completed")
          expect((yield* raw(info.url, "POST", `/runs/${before.liveId}/heartbeat`, { token: before.liveClaimToken })).body).toMatchObject({ details: { reason: "spent" } })

          // The runner token claims the run that was queued before the restart.
          const runner = yield* reconnectRunner(info.url, before.runner)
          const queued = yield* completeOne(p, runner)
          expect(queued.runId).toBe(before.queuedId)
          expect(queued.completed.run.state).toBe("completed")
          expect(yield* runner.client.runner.claim()).toEqual({ _tag: "empty" })

          for (const runId of [before.doneId, before.liveId, before.queuedId]) {
            const verdict = yield* verified(p, runner, runId)
            expect([runId, verdict.problems, verdict.valid]).toEqual([runId, [], true])
          }
          expect((yield* p.admin.runs.list({ urlParams: {} })).map((r) => r.state)).toEqual(["completed", "completed", "completed"])
        }).pipe(onPlane(options))

        const claims = dumpTables(filename)["claims"]!
        expect(claims.map((c) => c.run_id)).toEqual([before.doneId, before.liveId, before.queuedId])
        expect(claims.every((c) => typeof c.spent_at === "string")).toBe(true)
      })))

  it.live("holds a secret's value in no table, file, log line or response but the claim's, and only sealed in `secrets`", () => {
    const recorded: Recorded = { logs: [], responses: [] }
    const value = distinctiveValue()
    const of = forms(value)
    const masterKey = TestPlane.freshMasterKey()

    /** Scans the files' bytes and every cell; the sealed form must be there (so the scan reads what was written), the value nowhere. */
    const scan = (filename: string, when: string) => {
      const files = filesOf(filename)
      expect(files).toContain(filename)
      const bytes = files.map((f) => [f, readFileSync(f)] as const)
      expect([when, bytes.flatMap(([f, data]) => foundIn(data, of).map((label) => `${f}: ${label}`))]).toEqual([when, []])

      const tables = dumpTables(filename)
      expect(Object.keys(tables)).toEqual(expect.arrayContaining([
        "blob_access", "blobs", "claims", "enroll_tokens", "events", "meta", "principals", "runners", "runs", "secrets", "tokens", "warrant_migrations"
      ]))
      expect([when, cellsHolding(tables, of)]).toEqual([when, []])
      const secrets = tables["secrets"]!
      expect(secrets.map((r) => Object.keys(r).sort())).toEqual([["name", "sealed", "updated_at"]])
      expect(secrets.map((r) => r.name)).toEqual([secretName])
      const sealed = String(secrets[0]!.sealed)
      expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/)
      expect(Seal.open(masterKey, secretName, sealed)).toEqual(Either.right(value))
      expect(bytes.some(([, data]) => data.includes(Buffer.from(sealed)))).toBe(true)
    }

    return withDbFile((filename) =>
      Effect.gen(function*() {
        yield* Effect.logDebug("recorder wired")
        const options = { filename, signer: freshSigner(), masterKey, policy: secretPolicy }
        yield* Effect.gen(function*() {
          const p = yield* principals
          const stored = yield* p.admin.admin.putSecret({ path: { name: secretName }, payload: { value: Redacted.make(value) } })
          expect(stored.name).toBe(secretName)
          expect((yield* p.admin.admin.listSecrets()).map((s) => s.name)).toEqual([secretName])

          const runId = yield* createQueued(p, withSecret())
          const runner = yield* enrollRunner(p, "runner-s")
          const { claimed, completed } = yield* completeOne(p, runner)
          expect(claimed.contract.runId).toBe(runId)
          expect(claimed.contract.secrets).toEqual([{ name: secretName, scope: `run:${runId}` }])
          expect(claimed.secrets.map((s) => [s.name, Redacted.value(s.value)])).toEqual([[secretName, value]])
          expect(claimed.entries.map((e) => e.event.type)).toEqual(["run.created", "policy.evaluated", "run.claimed", "secret.released"])
          expect(completed.run.state).toBe("completed")

          // Read the run back every way there is, so each of those responses is checked too.
          yield* p.requester.runs.get({ path: { runId } })
          yield* p.requester.runs.events({ path: { runId } })
          yield* p.requester.runs.bundle({ path: { runId } })
          yield* p.requester.runs.list({ urlParams: {} })
          yield* p.admin.admin.export({ urlParams: {} })
          yield* p.admin.admin.listRunners()

          scan(filename, "while the plane is open")
        }).pipe(onPlane(options))

        // Closing checkpointed the WAL into the database file (a read-only reader recreates an empty -wal and -shm).
        expect(filesOf(filename)).toEqual([filename])
        scan(filename, "after the plane closed")
      })
    ).pipe(
      recording(recorded),
      Effect.tap(() => {
        expect(recorded.logs.some((line) => line.includes("recorder wired"))).toBe(true)
        expect(recorded.logs.flatMap((line) => foundIn(line, of).map((label) => `${label}: ${line}`))).toEqual([])

        const claims = recorded.responses.filter((r) => new URL(r.url).pathname === "/claim")
        expect(claims.map((r) => [r.status, foundIn(r.body, of)])).toEqual([[200, ["utf8"]]])
        const others = recorded.responses.filter((r) => new URL(r.url).pathname !== "/claim")
        expect(others.length).toBeGreaterThanOrEqual(15)
        expect(others.flatMap((r) => foundIn(r.body, of).map((label) => `${r.method} ${r.url}: ${label}`))).toEqual([])
      })
    )
  })

  it.live("a plane with another master key fails the run rather than release a secret sealed under the first", () => {
    const recorded: Recorded = { logs: [], responses: [] }
    const value = distinctiveValue()
    const of = forms(value)
    return withDbFile((filename) =>
      Effect.gen(function*() {
        const signer = freshSigner()
        const first = TestPlane.freshMasterKey()
        const before = yield* Effect.gen(function*() {
          const p = yield* principals
          yield* p.admin.admin.putSecret({ path: { name: secretName }, payload: { value: Redacted.make(value) } })
          const runId = yield* createQueued(p, withSecret())
          const runner = yield* enrollRunner(p, "runner-k")
          return { tokens: { admin: p.adminToken, requester: p.requesterToken, approver: p.approverToken }, runner: { runnerId: runner.runnerId, token: runner.token, signer: runner.signer }, runId }
        }).pipe(onPlane({ filename, signer, masterKey: first, policy: secretPolicy }))

        yield* Effect.gen(function*() {
          const info = yield* PlaneInfo
          const p = yield* reconnect(info.url, info.planeKey, before.tokens)
          const runner = yield* reconnectRunner(info.url, before.runner)
          expect(yield* runner.client.runner.claim()).toEqual({ _tag: "empty" })

          const message = `secret ${secretName} cannot be released: it was sealed under a different master key than this plane holds; start the plane with the key it was stored under`
          const detail = yield* p.requester.runs.get({ path: { runId: before.runId } })
          expect(detail.run.state).toBe("failed")
          expect(detail.run.failure).toEqual({ failureClass: "policy", message })
          const events = yield* p.requester.runs.events({ path: { runId: before.runId } })
          expect(events.map((e) => e.event.type)).toEqual(["run.created", "policy.evaluated", "run.failed"])
          expect(events.at(-1)!.event).toEqual({ type: "run.failed", failureClass: "policy", message })
          // The secret is still listed, its sealed row untouched.
          expect((yield* p.admin.admin.listSecrets()).map((s) => s.name)).toEqual([secretName])
        }).pipe(onPlane({ filename, signer, masterKey: TestPlane.freshMasterKey(), policy: secretPolicy }))

        const sealed = String(dumpTables(filename)["secrets"]![0]!.sealed)
        expect(Seal.open(first, secretName, sealed)).toEqual(Either.right(value))

        // Back on the right key, a new run gets the value itself.
        yield* Effect.gen(function*() {
          const info = yield* PlaneInfo
          const p = yield* reconnect(info.url, info.planeKey, before.tokens)
          const runner = yield* reconnectRunner(info.url, before.runner)
          const runId = yield* createQueued(p, withSecret())
          const claimed = yield* claimOrFail(runner)
          expect(claimed.contract.runId).toBe(runId)
          expect(claimed.secrets.map((s) => [s.name, Redacted.value(s.value)])).toEqual([[secretName, value]])
        }).pipe(onPlane({ filename, signer, masterKey: first, policy: secretPolicy }))
      })
    ).pipe(
      recording(recorded),
      Effect.tap(() => {
        // Exactly one response carried the value: the last claim, on the right key. The other key's claim released nothing.
        const claims = recorded.responses.filter((r) => new URL(r.url).pathname === "/claim")
        expect(claims.map((r) => foundIn(r.body, of).length > 0)).toEqual([false, true])
        expect(JSON.parse(claims[0]!.body)).toEqual({ _tag: "empty" })
        expect(recorded.responses.filter((r) => foundIn(r.body, of).length > 0)).toHaveLength(1)
        expect(recorded.logs.filter((line) => foundIn(line, of).length > 0)).toEqual([])
      })
    )
  })

  it.live("a store failure after a secret was opened is logged under a request id without the value, answered by a 500 carrying neither, and rolled back", () => {
    const recorded: Recorded = { logs: [], responses: [] }
    const value = distinctiveValue()
    const of = forms(value)
    return withDbFile((filename) =>
      Effect.gen(function*() {
        const p = yield* principals
        yield* p.admin.admin.putSecret({ path: { name: secretName }, payload: { value: Redacted.make(value) } })
        const runId = yield* createQueued(p, withSecret())
        const runner = yield* enrollRunner(p, "runner-f")

        // Break the claim's last write: the secret is opened, then recording the claim fails.
        const db = new Database(filename, { readonly: false, fileMustExist: true })
        db.exec("DROP TABLE claims")
        db.close()
        const failure = yield* Effect.flip(runner.client.runner.claim())
        if (failure._tag !== "InternalError") return yield* Effect.dieMessage(`expected an InternalError, got ${failure._tag}`)
        const { requestId } = failure.details
        expect(requestId).toMatch(/^[0-9a-f]{16}$/)
        expect(failure.message).toBe(`the plane failed on this request; its log has the cause under request id ${requestId}`)
        expect(recorded.responses.at(-1)).toMatchObject({ status: 500 })

        const logged = recorded.logs.filter((line) => line.includes(`request ${requestId} (POST /claim) failed`))
        expect(logged).toHaveLength(1)
        expect(logged[0]).toContain("no such table: claims")

        // The claim's transaction rolled back: the run is still queued, unclaimed, its chain as it was.
        const detail = yield* p.requester.runs.get({ path: { runId } })
        expect(detail.run).toMatchObject({ state: "queued", eventCount: 2 })
        expect(detail.run.runnerId).toBeUndefined()
      }).pipe(onPlane({ filename, signer: freshSigner(), masterKey: TestPlane.freshMasterKey(), policy: secretPolicy }))
    ).pipe(
      recording(recorded),
      Effect.tap(() => {
        expect(recorded.logs.filter((line) => foundIn(line, of).length > 0)).toEqual([])
        expect(recorded.responses.filter((r) => foundIn(r.body, of).length > 0)).toEqual([])
      })
    )
  })

  it.live("migrates once: starting again on the same file neither fails nor duplicates a row", () =>
    withDbFile((filename) =>
      Effect.gen(function*() {
        const options = { filename, signer: freshSigner(), masterKey: TestPlane.freshMasterKey() }
        const tokens = yield* Effect.gen(function*() {
          const p = yield* principals
          yield* enrollRunner(p, "runner-m")
          yield* createQueued(p)
          return { admin: p.adminToken, requester: p.requesterToken, approver: p.approverToken }
        }).pipe(onPlane(options))
        const afterFirst = dumpTables(filename)
        const migrations = afterFirst["warrant_migrations"]!
        expect(migrations.filter((m) => m.migration_id === 1 && m.name === "init")).toHaveLength(1)
        expect(new Set(migrations.map((m) => m.migration_id)).size).toBe(migrations.length)
        expect(afterFirst["principals"]).toHaveLength(3)
        expect(afterFirst["tokens"]).toHaveLength(4)
        expect(afterFirst["runners"]).toHaveLength(1)
        expect(afterFirst["runs"]).toHaveLength(1)
        expect(afterFirst["meta"]).toHaveLength(1)

        for (const start of [2, 3]) {
          yield* Effect.gen(function*() {
            const info = yield* PlaneInfo
            expect([start, info.adminToken]).toEqual([start, Option.none()])
            const p = yield* reconnect(info.url, info.planeKey, tokens)
            expect(yield* p.anonymous.system.health()).toEqual({ status: "ok" })
            expect((yield* p.admin.admin.listPrincipals()).map((x) => x.id)).toEqual(["admin", "alice", "bob"])
            expect(yield* p.requester.runs.list({ urlParams: {} })).toHaveLength(1)
          }).pipe(onPlane(options))
          expect([start, dumpTables(filename)]).toEqual([start, afterFirst])
        }
      })))
})
