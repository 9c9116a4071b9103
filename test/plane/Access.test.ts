/**
 * Access at the plane's edge, over real loopback HTTP on a real SQLite store: 401 against 403 in
 * every group, lockout and per-principal rate limits (on the TestClock), single-use enroll tokens,
 * a structured 4xx for every kind of bad input, and the OpenAPI document.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Redacted, Schema, TestClock } from "effect"
import { sha256 } from "../../src/protocol/Hash.js"
import { RunnerId } from "../../src/protocol/Ids.js"
import * as TestPlane from "../../src/testkit/TestPlane.js"
import {
  claimOrFail,
  enrollRunner,
  errorTag,
  freshSigner,
  principals,
  type Principals,
  raw,
  rawHttp,
  type RawResponse,
  request
} from "./support/PlaneKit.js"

// ---------------------------------------------------------------------------------------------
// Helpers

interface ErrorBody {
  readonly error?: unknown
  readonly message?: unknown
  readonly details?: unknown
}

const bodyOf = (response: RawResponse): ErrorBody => (typeof response.body === "object" && response.body !== null ? response.body : {}) as ErrorBody

/** An error answer, exactly: its status, its `error` name, a message, and its `details` (when given). */
const expectError = (response: RawResponse, status: number, error: string, details?: unknown, label?: string) => {
  const body = bodyOf(response)
  expect({ status: response.status, error: body.error }, label).toEqual({ status, error })
  expect(typeof body.message, label).toBe("string")
  if (details !== undefined) expect(body.details, label).toEqual(details)
}

/** The shape every refusal of bad input has: a 4xx and `{ error, message, details }`. */
const expectStructured4xx = (response: RawResponse) => {
  const body = bodyOf(response)
  expect(response.status).toBeGreaterThanOrEqual(400)
  expect(response.status).toBeLessThan(500)
  expect(typeof body.error).toBe("string")
  expect(typeof body.message).toBe("string")
  expect("details" in body).toBe(true)
}

const missing = { reason: "missing" } as const
const unknown = { reason: "unknown" } as const
const lockout = (retryAfterSeconds: number) => ({ retryAfterSeconds, reason: "lockout" })

/** A token in the plane's own format that no plane ever minted. */
const unminted = (prefix: "wpt" | "wrt" | "wct" | "wet") => `${prefix}_${"0".repeat(24)}.${"A".repeat(43)}`

const forbidden = (caller: string, ...allowed: ReadonlyArray<string>) => ({ caller, allowed })
const role = (r: string) => `a principal with role ${r}`
const ALICE = "principal alice (requester)"
const BOB = "principal bob (approver)"

const json = (value: unknown) => JSON.stringify(value)
const someHash = sha256("some blob")

/**
 * The lease sweeper ticks on the TestClock too: a long period keeps `TestClock.adjust` from
 * stepping through thousands of sweeps.
 */
const onTestClock = { sweepEvery: Duration.hours(1) }

/** An instant `seconds` after TestClock time zero: a plane stamping these runs on the test's clock. */
const epochPlus = (seconds: number) => new Date(seconds * 1000).toISOString()

/** Enrolls with a raw request: the status and body as sent. */
const enrollRaw = (p: Principals, enrollToken: string, name?: string) =>
  raw(p.url, "POST", "/runners/enroll", { body: json({ enrollToken, publicKey: freshSigner().publicKey, ...(name === undefined ? {} : { name }) }) })

const mintEnrollToken = (p: Principals, ttlSeconds?: number) =>
  p.admin.admin.createEnrollToken({ payload: { pool: request().pool, ...(ttlSeconds === undefined ? {} : { ttlSeconds }) } })

interface Guarded {
  readonly group: string
  readonly method: string
  readonly path: string
  readonly body?: string
  readonly contentType?: string
}

/** Endpoints of every authenticated group, each with a body it would accept. */
const guarded: ReadonlyArray<Guarded> = [
  { group: "admin", method: "GET", path: "/principals" },
  { group: "admin", method: "POST", path: "/principals", body: json({ id: "eve", kind: "human", role: "admin" }) },
  { group: "admin", method: "POST", path: "/enroll-tokens", body: json({ pool: "default" }) },
  { group: "admin", method: "PUT", path: "/secrets/NPM_TOKEN", body: json({ value: "s3cret" }) },
  { group: "admin", method: "GET", path: "/export" },
  { group: "runs", method: "POST", path: "/runs", body: json(request()) },
  { group: "runs", method: "GET", path: "/runs" },
  { group: "runs", method: "GET", path: "/runs/run-1/events" },
  { group: "runner", method: "POST", path: "/claim" },
  { group: "runner", method: "POST", path: "/runs/run-1/heartbeat" },
  { group: "blobs", method: "PUT", path: `/blobs/${someHash}`, body: "some blob", contentType: "application/octet-stream" },
  { group: "blobs", method: "GET", path: `/blobs/${someHash}` }
]

/** Calls a guarded endpoint with `token`, or with none. */
const callGuarded = (url: string, g: Guarded, token?: string) =>
  raw(url, g.method, g.path, {
    ...(token === undefined ? {} : { token }),
    ...(g.body === undefined ? {} : { body: g.body }),
    ...(g.contentType === undefined ? {} : { contentType: g.contentType })
  })

// ---------------------------------------------------------------------------------------------

describe("401 against 403", () => {
  it.live("no token is 401 missing in every authenticated group; health and ready need none", () =>
    Effect.gen(function*() {
      const p = yield* principals
      for (const g of guarded) {
        expect(yield* callGuarded(p.url, g), `${g.group}: ${g.method} ${g.path}`).toEqual({
          status: 401,
          body: { _tag: "Unauthorized", error: "Unauthorized", message: "no bearer token: send Authorization: Bearer <token>", details: missing }
        })
      }
      expect(new Set(guarded.map((g) => g.group))).toEqual(new Set(["admin", "runs", "runner", "blobs"]))
      // The typed client, sent without a token, decodes the same refusal.
      expect(yield* errorTag(p.anonymous.runs.list({ urlParams: {} }))).toBe("Unauthorized")

      expect(yield* raw(p.url, "GET", "/health")).toEqual({ status: 200, body: { status: "ok" } })
      expect(yield* raw(p.url, "GET", "/ready")).toEqual({ status: 200, body: { ready: true, checks: [{ name: "store", ok: true }, { name: "admin", ok: true }] } })
      expect(yield* p.anonymous.system.health()).toEqual({ status: "ok" })
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("a garbage token and a well-formed token the plane never minted are 401 unknown in every group", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const enrollToken = yield* mintEnrollToken(p)
      const tokens = {
        garbage: "garbage",
        "unminted principal token": unminted("wpt"),
        "unminted runner token": unminted("wrt"),
        "unminted claim token": unminted("wct"),
        "a real enroll token, which is no bearer token": Redacted.value(enrollToken.token)
      }
      for (const g of guarded) {
        for (const [label, token] of Object.entries(tokens)) {
          expectError(yield* callGuarded(p.url, g, token), 401, "Unauthorized", unknown, `${label} on ${g.group}: ${g.method} ${g.path}`)
        }
      }
    }).pipe(
      // 60 guesses from one address: far past the default lockout, which has its own tests below.
      Effect.provide(TestPlane.layer({ settings: { lockout: { failures: 1_000, window: Duration.minutes(5), duration: Duration.minutes(5) } } }))
    ))

  it.live("a valid token without the right role or kind is 403 Forbidden, naming the caller and what was needed", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const created = yield* p.requester.runs.create({ payload: request() })
      const other = yield* p.requester.runs.create({ payload: request() })
      if (created._tag !== "created" || other._tag !== "created") return expect.fail("runs were not created")
      const claimed = yield* claimOrFail(runner)
      const claimToken = Redacted.value(claimed.claimToken)
      const claimCaller = `claim token of run ${claimed.contract.runId}`
      const unclaimed = [created.run.runId, other.run.runId].find((id) => id !== claimed.contract.runId)!
      const RUNNER = "runner runner-a"
      const admin = [role("admin")]
      const creators = [role("requester"), role("admin")]
      const blob = "application/octet-stream"
      const cases: ReadonlyArray<{ readonly token: string; readonly call: string; readonly body?: string; readonly contentType?: string; readonly details: unknown }> = [
        { token: p.requesterToken, call: "POST /principals", body: json({ id: "eve", kind: "human", role: "admin" }), details: forbidden(ALICE, ...admin) },
        { token: p.requesterToken, call: "POST /enroll-tokens", body: json({ pool: "default" }), details: forbidden(ALICE, ...admin) },
        { token: p.requesterToken, call: "PUT /secrets/NPM_TOKEN", body: json({ value: "s3cret" }), details: forbidden(ALICE, ...admin) },
        { token: p.requesterToken, call: "GET /export", details: forbidden(ALICE, ...admin) },
        { token: p.requesterToken, call: "GET /runners", details: forbidden(ALICE, ...admin) },
        { token: p.approverToken, call: "GET /secrets", details: forbidden(BOB, ...admin) },
        { token: runner.token, call: "GET /principals", details: forbidden(RUNNER, ...admin) },
        { token: p.approverToken, call: "POST /runs", body: json(request()), details: forbidden(BOB, ...creators) },
        { token: runner.token, call: "POST /runs", body: json(request()), details: forbidden(RUNNER, ...creators) },
        { token: claimToken, call: "POST /runs", body: json(request()), details: forbidden(claimCaller, ...creators) },
        { token: p.requesterToken, call: `POST /runs/${created.run.runId}/approve`, details: forbidden(ALICE, role("approver"), role("admin")) },
        { token: p.requesterToken, call: "POST /claim", details: forbidden(ALICE, "a runner token") },
        { token: p.adminToken, call: "POST /claim", details: forbidden("principal admin (admin)", "a runner token") },
        { token: claimToken, call: "POST /claim", details: forbidden(claimCaller, "a runner token") },
        { token: runner.token, call: `POST /runs/${claimed.contract.runId}/heartbeat`, details: forbidden(RUNNER, `the claim token of run ${claimed.contract.runId}`) },
        { token: claimToken, call: `POST /runs/${unclaimed}/heartbeat`, details: forbidden(claimCaller, `the claim token of run ${unclaimed}`) },
        { token: p.approverToken, call: `PUT /blobs/${someHash}`, body: "some blob", contentType: blob, details: forbidden(BOB, ...creators) },
        { token: runner.token, call: `PUT /blobs/${someHash}`, body: "some blob", contentType: blob, details: forbidden(RUNNER, ...creators) }
      ]
      for (const c of cases) {
        const [method, path] = c.call.split(" ") as [string, string]
        const response = yield* raw(p.url, method, path, { token: c.token, ...(c.body === undefined ? {} : { body: c.body }), ...(c.contentType === undefined ? {} : { contentType: c.contentType }) })
        expectError(response, 403, "Forbidden", c.details, c.call)
        expect(bodyOf(response).message, c.call).toMatch(/ may not .+; this needs /)
      }
      // The typed client sees the same refusals.
      expect(yield* errorTag(p.requester.admin.createPrincipal({ payload: { id: "eve", kind: "human", role: "admin" } }))).toBe("Forbidden")
      expect(yield* errorTag(p.approver.runs.create({ payload: request() }))).toBe("Forbidden")
      expect(yield* errorTag(p.requester.runner.claim())).toBe("Forbidden")
      expect(yield* errorTag(runner.client.runs.create({ payload: request() }))).toBe("Forbidden")
      // Nothing was done on the refused calls' behalf.
      expect((yield* p.admin.admin.listPrincipals()).map((x) => x.id).sort()).toEqual(["admin", "alice", "bob"])
      expect(yield* p.admin.admin.listSecrets()).toEqual([])
    }).pipe(Effect.provide(TestPlane.layer())))
})

// ---------------------------------------------------------------------------------------------

describe("lockout and rate limits", () => {
  const lockoutAfter3 = { lockout: { failures: 3, window: Duration.minutes(5), duration: Duration.minutes(5) } }

  it.effect("guesses lock the address out, then even a valid token is 429 until the lockout passes on the clock", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const enrollToken = Redacted.value((yield* mintEnrollToken(p)).token)
      // The server's clock is the TestClock: at time zero a 15-minute token expires at 00:15.
      expect((yield* mintEnrollToken(p)).expiresAt).toBe(epochPlus(15 * 60))

      const guess = raw(p.url, "GET", "/runs", { token: "guess" })
      expectError(yield* guess, 401, "Unauthorized", unknown)
      expectError(yield* guess, 401, "Unauthorized", unknown)
      expectError(yield* guess, 429, "TooManyRequests", lockout(300))

      // The address is locked, not a token: the admin's valid token is refused in every group, and enrollment too.
      for (const path of ["/principals", "/runs", `/blobs/${someHash}`]) {
        expectError(yield* raw(p.url, "GET", path, { token: p.adminToken }), 429, "TooManyRequests", lockout(300))
      }
      expectError(yield* raw(p.url, "POST", "/claim", { token: p.adminToken }), 429, "TooManyRequests", lockout(300))
      expectError(yield* enrollRaw(p, enrollToken, "runner-a"), 429, "TooManyRequests", lockout(300))
      expect(yield* errorTag(p.admin.admin.listPrincipals())).toBe("TooManyRequests")
      // Health needs no token and is never locked.
      expect(yield* raw(p.url, "GET", "/health")).toEqual({ status: 200, body: { status: "ok" } })

      yield* TestClock.adjust(Duration.minutes(4))
      expectError(yield* raw(p.url, "GET", "/runs", { token: p.adminToken }), 429, "TooManyRequests", lockout(60))
      yield* TestClock.adjust(Duration.seconds(59))
      expectError(yield* raw(p.url, "GET", "/runs", { token: p.adminToken }), 429, "TooManyRequests", lockout(1))

      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* raw(p.url, "GET", "/runs", { token: p.adminToken })).toEqual({ status: 200, body: [] })
      expect((yield* enrollRaw(p, enrollToken, "runner-a")).status).toBe(201)
      // Once the failure window (counted from the first guess) has passed too, a guess is a first failure again.
      yield* TestClock.adjust(Duration.seconds(1))
      expectError(yield* guess, 401, "Unauthorized", unknown)
      expect((yield* p.admin.admin.listPrincipals()).length).toBe(3)
    }).pipe(Effect.provide(TestPlane.layer({ settings: { ...lockoutAfter3, ...onTestClock } }))))

  it.effect("guessed enroll tokens count towards the same lockout", () =>
    Effect.gen(function*() {
      const p = yield* principals
      expectError(yield* enrollRaw(p, unminted("wet")), 401, "Unauthorized", unknown)
      expectError(yield* enrollRaw(p, "garbage"), 401, "Unauthorized", unknown)
      expectError(yield* enrollRaw(p, unminted("wet")), 429, "TooManyRequests", lockout(300))
      expectError(yield* raw(p.url, "GET", "/runs", { token: p.requesterToken }), 429, "TooManyRequests", lockout(300))
      yield* TestClock.adjust(Duration.minutes(5))
      expect((yield* raw(p.url, "GET", "/runs", { token: p.requesterToken })).status).toBe(200)
    }).pipe(Effect.provide(TestPlane.layer({ settings: { ...lockoutAfter3, ...onTestClock } }))))

  it.effect("a missing token is no guess: it never locks the address out", () =>
    Effect.gen(function*() {
      const p = yield* principals
      for (let i = 0; i < 10; i++) expectError(yield* raw(p.url, "GET", "/runs"), 401, "Unauthorized", missing)
      expect(yield* raw(p.url, "GET", "/runs", { token: p.requesterToken })).toEqual({ status: 200, body: [] })
    }).pipe(Effect.provide(TestPlane.layer({ settings: { ...lockoutAfter3, ...onTestClock } }))))

  it.effect("each principal has its own bucket: the 4th request in a row is 429 rate-limit while another principal is served", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const list = (token: string) => raw(p.url, "GET", "/runs", { token })
      for (let i = 0; i < 3; i++) expect(yield* list(p.requesterToken)).toEqual({ status: 200, body: [] })
      const limited = yield* list(p.requesterToken)
      expectError(limited, 429, "TooManyRequests", { retryAfterSeconds: 1, reason: "rate-limit" })
      expect(bodyOf(limited).message).toContain("principal:alice")
      expect(yield* errorTag(p.requester.runs.list({ urlParams: {} }))).toBe("TooManyRequests")

      // Bob's bucket is his own, and a rate-limited principal locks nobody out.
      expect(yield* list(p.approverToken)).toEqual({ status: 200, body: [] })

      // Time refills the bucket at one request per second.
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* list(p.requesterToken)).toEqual({ status: 200, body: [] })
      expectError(yield* list(p.requesterToken), 429, "TooManyRequests", { retryAfterSeconds: 1, reason: "rate-limit" })
      yield* TestClock.adjust(Duration.seconds(3))
      for (let i = 0; i < 3; i++) expect((yield* list(p.requesterToken)).status).toBe(200)
      expect((yield* list(p.requesterToken)).status).toBe(429)
    }).pipe(Effect.provide(TestPlane.layer({ settings: { rateLimit: { perSecond: 1, burst: 3 }, ...onTestClock } }))))
})

// ---------------------------------------------------------------------------------------------

describe("enrollment", () => {
  it.live("an enroll token is single-use: used once, it is 401 spent", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const token = Redacted.value((yield* mintEnrollToken(p)).token)
      const first = yield* enrollRaw(p, token, "runner-a")
      expect(first.status).toBe(201)
      expect(first.body).toMatchObject({ runnerId: "runner-a", pool: "default" })
      expectError(yield* enrollRaw(p, token, "runner-b"), 401, "Unauthorized", { reason: "spent" })
      expect((yield* p.admin.admin.listRunners()).map((r) => r.runnerId)).toEqual(["runner-a"])
    }).pipe(Effect.provide(TestPlane.layer())))

  it.effect("an enroll token past its ttl is 401 expired (on the TestClock)", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const short = yield* mintEnrollToken(p, 60)
      const long = yield* mintEnrollToken(p, 120)
      expect([short.expiresAt, long.expiresAt]).toEqual([epochPlus(60), epochPlus(120)])
      yield* TestClock.adjust(Duration.seconds(60))
      const expired = yield* enrollRaw(p, Redacted.value(short.token), "runner-a")
      expectError(expired, 401, "Unauthorized", { reason: "expired" })
      expect(bodyOf(expired).message).toContain(epochPlus(60))
      expect((yield* enrollRaw(p, Redacted.value(long.token), "runner-b")).status).toBe(201)
      yield* TestClock.adjust(Duration.seconds(60))
      // A token minted now runs from now.
      expect((yield* enrollRaw(p, Redacted.value((yield* mintEnrollToken(p, 60)).token), "runner-c")).status).toBe(201)
    }).pipe(Effect.provide(TestPlane.layer({ settings: onTestClock }))))

  it.live("a principal's or runner's token is not an enroll token", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      for (const token of [p.adminToken, p.requesterToken, runner.token, unminted("wet")]) {
        const response = yield* enrollRaw(p, token, "runner-b")
        expectError(response, 401, "Unauthorized", unknown)
      }
      expect(bodyOf(yield* enrollRaw(p, p.adminToken)).message).toContain("not an enroll token")
      expect((yield* p.admin.admin.listRunners()).map((r) => r.runnerId)).toEqual(["runner-a"])
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("runners racing to enroll with one token: exactly one wins, the rest are 401 spent", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const token = Redacted.value((yield* mintEnrollToken(p)).token)
      const names = Array.from({ length: 8 }, (_, i) => `racer-${i}`)
      const responses = yield* Effect.all(names.map((name) => enrollRaw(p, token, name)), { concurrency: "unbounded" })
      const winners = responses.filter((r) => r.status === 201)
      expect(winners.length).toBe(1)
      for (const loser of responses.filter((r) => r.status !== 201)) expectError(loser, 401, "Unauthorized", { reason: "spent" })
      const winner = winners[0]!.body as { readonly runnerId: string }
      expect((yield* p.admin.admin.listRunners()).map((r) => r.runnerId)).toEqual([winner.runnerId])
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("a runner name already taken is 409 Conflict, and the refused token stays usable", () =>
    Effect.gen(function*() {
      const p = yield* principals
      yield* enrollRunner(p, "runner-a")
      const token = Redacted.value((yield* mintEnrollToken(p)).token)
      expectError(yield* enrollRaw(p, token, "runner-a"), 409, "Conflict", { resource: "runner", id: "runner-a" })
      // The typed client decodes the same answer.
      const again = yield* p.anonymous.enroll.enroll({ payload: { enrollToken: (yield* mintEnrollToken(p)).token, publicKey: freshSigner().publicKey, name: Schema.decodeSync(RunnerId)("runner-a") } }).pipe(Effect.flip)
      expect(again._tag).toBe("Conflict")
      expect((yield* enrollRaw(p, token, "runner-b")).status).toBe(201)
      expect((yield* p.admin.admin.listRunners()).map((r) => r.runnerId).sort()).toEqual(["runner-a", "runner-b"])
    }).pipe(Effect.provide(TestPlane.layer())))
})

// ---------------------------------------------------------------------------------------------

describe("bad input", () => {
  interface Ctx extends Principals {
    readonly runnerToken: string
  }
  interface BadCase {
    readonly name: string
    readonly send: (c: Ctx) => Effect.Effect<RawResponse>
    readonly status: number
    readonly error: string
    /** The first issue's path, for input that decodes badly. */
    readonly at?: string
    readonly details?: unknown
  }

  /** A valid run request with one thing changed, as JSON. */
  const runWith = (change: (r: Record<string, any>) => void) => {
    const r = JSON.parse(json(request())) as Record<string, any>
    change(r)
    return json(r)
  }
  const postRun = (body: string, contentType?: string) => (c: Ctx) =>
    raw(c.url, "POST", "/runs", { token: c.requesterToken, body, ...(contentType === undefined ? {} : { contentType }) })
  const get = (path: string, as: "requester" | "admin" | "runner" = "requester") => (c: Ctx) =>
    raw(c.url, "GET", path, { token: as === "admin" ? c.adminToken : as === "runner" ? c.runnerToken : c.requesterToken })
  const send = (method: string, path: string, body: string | Uint8Array, as: "requester" | "admin" | "runner" | "nobody", contentType?: string) => (c: Ctx) =>
    raw(c.url, method, path, {
      body,
      ...(as === "nobody" ? {} : { token: as === "admin" ? c.adminToken : as === "runner" ? c.runnerToken : c.requesterToken }),
      ...(contentType === undefined ? {} : { contentType })
    })
  /** A POST /runs whose bytes and framing are written by hand. */
  const framed = (contentLength: string, body: string, halfClose = false) => (c: Ctx) =>
    rawHttp(c.url, ["POST /runs HTTP/1.1", `Authorization: Bearer ${c.requesterToken}`, "Content-Type: application/json", `Content-Length: ${contentLength}`], body, { halfClose })
  const file = (path: string) => ({ path, hash: sha256("x"), size: 1 })
  const unreadable = { issues: [] }
  const MiB = 1024 * 1024

  const cases: ReadonlyArray<BadCase> = [
    // Bodies that are not what the endpoint reads
    { name: "malformed JSON", send: postRun('{"agent":'), status: 400, error: "BadRequest", details: unreadable },
    { name: "a JSON array for an object", send: postRun("[]"), status: 400, error: "BadRequest", at: "$" },
    { name: "plain text for JSON", send: postRun("run my tests", "text/plain"), status: 400, error: "BadRequest", at: "$" },
    { name: "an empty body", send: send("POST", "/runs", "", "requester"), status: 400, error: "BadRequest" },
    { name: "a wrong field type", send: postRun(runWith((r) => { r.agent = 42 })), status: 400, error: "BadRequest", at: "$.agent" },
    { name: "a wrong nested field type", send: postRun(runWith((r) => { r.budget.maxDurationMin = "ten" })), status: 400, error: "BadRequest", at: "$.budget.maxDurationMin" },
    { name: "an unknown extra field in a run request", send: postRun(runWith((r) => { r.requestedBy = { kind: "human", id: "admin" } })), status: 400, error: "BadRequest", at: "$.requestedBy" },
    { name: "an unknown nested field in a run request", send: postRun(runWith((r) => { r.task.shell = "rm -rf /" })), status: 400, error: "BadRequest", at: "$.task.shell" },
    { name: "a missing required field", send: postRun(runWith((r) => { delete r.pool })), status: 400, error: "BadRequest", at: "$.pool" },
    { name: "an unknown field in a principal", send: send("POST", "/principals", json({ id: "eve", kind: "human", role: "requester", admin: true }), "admin"), status: 400, error: "BadRequest", at: "$.admin" },
    { name: "an empty event batch", send: send("POST", "/runs/run-1/events", json({ entries: [] }), "runner"), status: 400, error: "BadRequest", at: "$.entries" },
    { name: "a ttl out of range", send: send("POST", "/enroll-tokens", json({ pool: "default", ttlSeconds: 1 }), "admin"), status: 400, error: "BadRequest", at: "$.ttlSeconds" },
    { name: "a limit that is not a number", send: get("/runs?limit=abc"), status: 400, error: "BadRequest", at: "$.limit" },

    // Paths and ids that try to leave where they belong
    { name: "runId ..%2F..%2Fetc", send: get("/runs/..%2F..%2Fetc"), status: 400, error: "BadRequest", at: "$.runId" },
    { name: "runId ..%2F..%2Fetc on the runner protocol", send: send("POST", "/runs/..%2F..%2Fetc/heartbeat", "", "runner"), status: 400, error: "BadRequest", at: "$.runId" },
    { name: "runId with a NUL byte", send: get("/runs/run%00x/events"), status: 400, error: "BadRequest", at: "$.runId" },
    { name: "runId absolute path", send: get("/runs/%2Fetc%2Fpasswd/bundle"), status: 400, error: "BadRequest", at: "$.runId" },
    { name: "blob hash sha256:../.. (put)", send: send("PUT", `/blobs/${encodeURIComponent("sha256:../..")}`, "x", "requester", "application/octet-stream"), status: 400, error: "BadRequest", at: "$.hash" },
    { name: "blob hash sha256:../.. (get)", send: get(`/blobs/${encodeURIComponent("sha256:../..")}`), status: 400, error: "BadRequest", at: "$.hash" },
    { name: "secret name ../x (put)", send: send("PUT", `/secrets/${encodeURIComponent("../x")}`, json({ value: "v" }), "admin"), status: 400, error: "BadRequest", at: "$.name" },
    { name: "secret name ../x (delete)", send: (c) => raw(c.url, "DELETE", `/secrets/${encodeURIComponent("../x")}`, { token: c.adminToken }), status: 400, error: "BadRequest", at: "$.name" },
    { name: "secret name with a NUL byte", send: send("PUT", "/secrets/A%00B", json({ value: "v" }), "admin"), status: 400, error: "BadRequest", at: "$.name" },
    { name: "manifest file ../../etc/passwd", send: postRun(runWith((r) => { r.workspace.files = [file("../../etc/passwd")] })), status: 400, error: "BadRequest", at: "$.workspace.files[0].path" },
    { name: "manifest file at an absolute path", send: postRun(runWith((r) => { r.workspace.files = [file("/etc/passwd")] })), status: 400, error: "BadRequest", at: "$.workspace.files[0].path" },
    { name: "manifest file with a NUL byte", send: postRun(runWith((r) => { r.workspace.files = [file("src/a\u0000.ts")] })), status: 400, error: "BadRequest", at: "$.workspace.files[0].path" },
    { name: "manifest file with a backslash", send: postRun(runWith((r) => { r.workspace.files = [file("..\\..\\etc\\passwd")] })), status: 400, error: "BadRequest", at: "$.workspace.files[0].path" },
    { name: "manifest file hash sha256:../..", send: postRun(runWith((r) => { r.workspace.files = [{ ...file("a"), hash: "sha256:../.." }] })), status: 400, error: "BadRequest", at: "$.workspace.files[0].hash" },
    { name: "manifest denied path ../x", send: postRun(runWith((r) => { r.workspace.denied = [{ path: "../x", pattern: ".env" }] })), status: 400, error: "BadRequest", at: "$.workspace.denied[0].path" },
    { name: "cwd /etc", send: postRun(runWith((r) => { r.execution.cwd = "/etc" })), status: 400, error: "BadRequest", at: "$.execution.cwd" },
    { name: "cwd ../..", send: postRun(runWith((r) => { r.execution.cwd = "../.." })), status: 400, error: "BadRequest", at: "$.execution.cwd" },
    { name: "cwd with a NUL byte", send: postRun(runWith((r) => { r.execution.cwd = "src\u0000" })), status: 400, error: "BadRequest", at: "$.execution.cwd" },
    { name: "secret name ../x in a run's env", send: postRun(runWith((r) => { r.execution.env.secrets = [{ env: "TOKEN", secretName: "../x" }] })), status: 400, error: "BadRequest", at: "$.execution.env.secrets[0].secretName" },
    { name: "principal id ../x", send: send("POST", "/principals", json({ id: "../x", kind: "human", role: "requester" }), "admin"), status: 400, error: "BadRequest", at: "$.id" },
    { name: "pool ../x for an enroll token", send: send("POST", "/enroll-tokens", json({ pool: "../x" }), "admin"), status: 400, error: "BadRequest", at: "$.pool" },
    { name: "runner name ../x", send: send("POST", "/runners/enroll", json({ enrollToken: unminted("wet"), publicKey: freshSigner().publicKey, name: "../x" }), "nobody"), status: 400, error: "BadRequest", at: "$.name" },
    { name: "pool ..%2Fx in a query", send: get("/runs?pool=..%2Fx"), status: 400, error: "BadRequest", at: "$.pool" },
    { name: "since ../x in an export query", send: get("/export?since=..%2Fx", "admin"), status: 400, error: "BadRequest", at: "$.since" },

    // Sizes and framing
    { name: "a JSON body over 16 MiB", send: postRun(" ".repeat(16 * MiB + 1)), status: 413, error: "PayloadTooLarge", details: { limitBytes: 16 * MiB } },
    { name: "a blob over maxBlobBytes", send: send("PUT", `/blobs/${sha256(new Uint8Array(1025))}`, new Uint8Array(1025), "requester", "application/octet-stream"), status: 413, error: "PayloadTooLarge", details: { limitBytes: 1024 } },
    { name: "a Content-Length claiming 100 GB for 2 bytes", send: framed("100000000000", "{}"), status: 413, error: "PayloadTooLarge", details: { limitBytes: 16 * MiB } },
    { name: "a Content-Length shorter than the body", send: framed("5", json(request())), status: 400, error: "BadRequest" },
    { name: "a Content-Length longer than the body, then the sender stops", send: framed("500", '{"agent":"command"}', true), status: 400, error: "BadRequest" },
    { name: "a Content-Length that is not a number", send: framed("abc", "{}"), status: 400, error: "BadRequest" },

    // Routes that do not exist
    { name: "an unknown route", send: get("/nope"), status: 404, error: "NotFound", details: { resource: "route", id: "/nope" } },
    { name: "an unknown route with traversal", send: get("/..%2F..%2Fetc%2Fpasswd"), status: 404, error: "NotFound", details: { resource: "route", id: "/..%2F..%2Fetc%2Fpasswd" } },
    { name: "a known path with an unknown method", send: (c) => raw(c.url, "DELETE", "/runs", { token: c.adminToken }), status: 404, error: "NotFound", details: { resource: "route", id: "/runs" } }
  ]

  it.live(`${cases.length} kinds of bad input: each its exact 4xx with { error, message, details }, never a 500`, () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const c: Ctx = { ...p, runnerToken: runner.token }
      for (const bad of cases) {
        const response = yield* bad.send(c)
        const body = bodyOf(response)
        expect({ status: response.status, error: body.error }, bad.name).toEqual({ status: bad.status, error: bad.error })
        expectStructured4xx(response)
        if (bad.details !== undefined) expect(body.details, bad.name).toEqual(bad.details)
        if (bad.error === "BadRequest") {
          const issues = (body.details as { readonly issues: ReadonlyArray<{ readonly path: string; readonly message: string }> }).issues
          expect(issues.length, bad.name).toBeLessThanOrEqual(20)
          if (bad.at !== undefined) expect(issues[0]?.path, bad.name).toBe(bad.at)
        }
      }
      // Nothing got through, and the plane is still serving.
      expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
      expect(yield* p.admin.admin.listSecrets()).toEqual([])
      expect((yield* p.admin.admin.listPrincipals()).map((x) => x.id).sort()).toEqual(["admin", "alice", "bob"])
      expect(yield* raw(p.url, "GET", "/health")).toEqual({ status: 200, body: { status: "ok" } })
    }).pipe(Effect.provide(TestPlane.layer({ settings: { maxBlobBytes: 1024 } }))))

  it.live("a chunked body (no Content-Length to check up front) is refused with a structured 411, never read, never stored", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const chunk = " ".repeat(1024 * 1024)
      const chunked = `${Array.from({ length: 17 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join("")}0\r\n\r\n`
      const response = yield* rawHttp(p.url, ["POST /runs HTTP/1.1", `Authorization: Bearer ${p.requesterToken}`, "Content-Type: application/json", "Transfer-Encoding: chunked"], chunked)
      expectError(response, 411, "LengthRequired", { limitBytes: 16 * 1024 * 1024 })
      expect(yield* raw(p.url, "GET", "/runs", { token: p.requesterToken })).toEqual({ status: 200, body: [] })
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("an array of 100k bad elements is answered with at most 20 issues", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const bodies = {
        files: runWith((r) => { r.workspace.files = Array.from({ length: 100_000 }, (_, i) => ({ path: `../${i}`, hash: "nope", size: -1 })) }),
        hosts: runWith((r) => { r.network.allowHosts = Array.from({ length: 100_000 }, (_, i) => i) })
      }
      for (const [what, body] of Object.entries(bodies)) {
        const response = yield* raw(p.url, "POST", "/runs", { token: p.requesterToken, body })
        expectError(response, 400, "BadRequest")
        const issues = (bodyOf(response).details as { readonly issues: ReadonlyArray<unknown> }).issues
        expect(issues.length, what).toBeGreaterThan(0)
        expect(issues.length, what).toBeLessThanOrEqual(20)
        expect(String(bodyOf(response).message).length, what).toBeLessThan(20 * 600)
      }
    }).pipe(Effect.provide(TestPlane.layer())))
})

// ---------------------------------------------------------------------------------------------

describe("the OpenAPI document", () => {
  it.live("GET /openapi.json is served without a token and names the paths and the bearer security", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const response = yield* raw(p.url, "GET", "/openapi.json")
      expect(response.status).toBe(200)
      const doc = response.body as {
        readonly openapi: string
        readonly info: { readonly title: string }
        readonly paths: Record<string, Record<string, { readonly security?: ReadonlyArray<unknown> }>>
        readonly components: { readonly securitySchemes: Record<string, unknown> }
      }
      expect(doc.openapi).toMatch(/^3\./)
      expect(doc.info.title).toBe("Warrant plane")
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([
        "/health",
        "/ready",
        "/runners/enroll",
        "/principals",
        "/enroll-tokens",
        "/secrets/{name}",
        "/export",
        "/runs",
        "/runs/{runId}",
        "/runs/{runId}/events",
        "/runs/{runId}/bundle",
        "/runs/{runId}/approve",
        "/runs/{runId}/cancel",
        "/claim",
        "/runs/{runId}/heartbeat",
        "/runs/{runId}/complete",
        "/blobs/{hash}"
      ]))
      expect(doc.components.securitySchemes).toEqual({ bearer: { type: "http", scheme: "bearer" } })
      const bearer = [{ bearer: [] }]
      expect(doc.paths["/runs"]!.post!.security).toEqual(bearer)
      expect(doc.paths["/claim"]!.post!.security).toEqual(bearer)
      expect(doc.paths["/runs/{runId}/events"]!.post!.security).toEqual(bearer)
      expect(doc.paths["/principals"]!.post!.security).toEqual(bearer)
      expect(doc.paths["/blobs/{hash}"]!.put!.security).toEqual(bearer)
      expect(doc.paths["/health"]!.get!.security ?? []).toEqual([])
      expect(doc.paths["/runners/enroll"]!.post!.security ?? []).toEqual([])
    }).pipe(Effect.provide(TestPlane.layer())))
})
