/**
 * The plane under attack, over real loopback HTTP against a real plane on SQLite, one fresh plane
 * per test. Each attack is written down with the exact refusal it meets: token confusion and the
 * Authorization header, the lockout, another principal's runs, a forged chain or receipt, policy
 * loosened by spelling, secret values in errors, bounded input, SQL injection and races.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Redacted, Schema, TestClock } from "effect"
import { link } from "../../src/chain/Link.js"
import type * as Signer from "../../src/crypto/Signer.js"
import { MAX_REQUEST_ENTRIES, RunRequest } from "../../src/plane/ApiModel.js"
import { sweep } from "../../src/plane/Leases.js"
import { contractHash } from "../../src/protocol/Digest.js"
import type { ChainEntry, RunEvent } from "../../src/protocol/Event.js"
import { sha256 } from "../../src/protocol/Hash.js"
import { SecretName } from "../../src/protocol/Ids.js"
import type { Policy } from "../../src/protocol/Policy.js"
import { Receipt } from "../../src/protocol/Receipt.js"
import { samplePolicy } from "../../src/testkit/SampleRun.js"
import * as TestPlane from "../../src/testkit/TestPlane.js"
import {
  claimClient,
  claimOrFail,
  enrollRunner,
  freshSigner,
  type Principals,
  principals,
  raw,
  rawHttp,
  type RawResponse,
  request,
  runnerSide
} from "./support/PlaneKit.js"
import { claimedRun, completeRaw, createRun, encodeReceipt, onTestClock, postEventsRaw, refusal, relink, stored, terminal, types } from "./support/RunKit.js"
import { blob, policyWith, principal, requestWith } from "./support/RunsBlobsKit.js"

// ---------------------------------------------------------------------------------------------
// Helpers of this file


const encodeRequest = Schema.encodeSync(RunRequest)
const json = (value: unknown) => JSON.stringify(value)

/** The refusal body every error carries. */
const unknownToken = { status: 401, body: refusal("Unauthorized", { reason: "unknown" }) }
const missingToken = { status: 401, body: refusal("Unauthorized", { reason: "missing" }) }
const spentToken = { status: 401, body: refusal("Unauthorized", { reason: "spent" }) }
const lockedOut = (seconds: number) => ({ status: 429, body: refusal("TooManyRequests", { retryAfterSeconds: seconds, reason: "lockout" }) })
/** A 400 whose issues point at `path` (a union may add a second issue at the same place). */
const badRequestAt = (path: string) => ({ status: 400, body: refusal("BadRequest", { issues: expect.arrayContaining([expect.objectContaining({ path })]) }) })
const runNotFound = (runId: string) => ({ status: 404, body: refusal("NotFound", { resource: "run", id: runId }) })
const forbidden = (caller: string, ...allowed: ReadonlyArray<string>) => ({ status: 403, body: refusal("Forbidden", { caller, allowed }) })
const role = (r: string) => `a principal with role ${r}`

/** Far more guesses than the default lockout allows, for tests that guess on purpose. */
const manyGuesses = { lockout: { failures: 10_000, window: Duration.minutes(5), duration: Duration.minutes(5) } }
const lockoutAfter3 = { lockout: { failures: 3, window: Duration.minutes(5), duration: Duration.minutes(5) } }
/** The sweeper ticks on the TestClock too; a long period keeps `TestClock.adjust` from running it. */
const quietSweeper = { sweepEvery: Duration.hours(1) }

const errorBody = (response: RawResponse) => response.body as { readonly error: string; readonly message: string; readonly details: Record<string, unknown> }

/** A GET with exactly these headers (fetch adds none that matter here). */
const getWith = (url: string, path: string, headers: Record<string, string>) =>
  Effect.promise(async (): Promise<RawResponse> => {
    const response = await fetch(url + path, { headers })
    const text = await response.text()
    try {
      return { status: response.status, body: JSON.parse(text) }
    } catch {
      return { status: response.status, body: text }
    }
  })

/** The receipt changed by `change`, then signed again, honestly, with the runner's own key. */
const resign = (receipt: Receipt, signer: Signer.SignerShape, change: (r: Receipt) => Receipt) =>
  Effect.gen(function*() {
    const body = { ...change(receipt), signatures: [] }
    const signature = yield* signer.signObject("receipt", "runner", encodeReceipt(body))
    return { ...body, signatures: [signature] } as Receipt
  })

const problemCodes = (response: RawResponse) =>
  (errorBody(response).details.problems as ReadonlyArray<{ readonly code: string; readonly where: string }>).map((p) => `${p.code} at ${p.where}`)

/** The dry-run decision for a request, with the rules it breaks. */
const judged = (p: Principals, r: RunRequest) =>
  Effect.map(p.requester.runs.create({ payload: { ...r, dryRun: true } }), (response) =>
    response._tag === "dry-run" ? { decision: response.report.decision, rules: response.report.violations.map((v) => v.rule) } : { decision: "created", rules: [] })

const withHosts = (...allowHosts: Array<string>) => requestWith({ network: { defaultDeny: true, allowHosts } })
const withAddresses = (...allowAddresses: Array<string>) => requestWith({ network: { defaultDeny: true, allowHosts: [], allowAddresses } })

const NPM_TOKEN = Schema.decodeSync(SecretName)("NPM_TOKEN")

// ---------------------------------------------------------------------------------------------

describe("token confusion", () => {
  it.live("a token is its prefix, id and secret together: swapped prefixes, swapped secrets, case and invisible characters are 401 unknown", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      yield* createRun(p)
      const claim = Redacted.value((yield* claimOrFail(runner)).claimToken)
      const enroll = Redacted.value((yield* p.admin.admin.createEnrollToken({ payload: { pool: request().pool } })).token)
      const parts = (token: string) => {
        const [, prefix, id, secret] = /^(w[prce]t)_([0-9a-f]{24})\.([A-Za-z0-9_-]{43})$/.exec(token)!
        return { prefix: prefix!, id: id!, secret: secret! }
      }
      const [P, B, R, C, E] = [p.requesterToken, p.approverToken, runner.token, claim, enroll].map(parts) as [ReturnType<typeof parts>, ReturnType<typeof parts>, ReturnType<typeof parts>, ReturnType<typeof parts>, ReturnType<typeof parts>]
      const swapCase = (s: string) => s.replace(/[A-Za-z]/, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()))
      const forged: Record<string, string> = {
        "a principal's id and secret as a runner token": `wrt_${P.id}.${P.secret}`,
        "a principal's id and secret as a claim token": `wct_${P.id}.${P.secret}`,
        "a runner's id and secret as a principal token": `wpt_${R.id}.${R.secret}`,
        "a runner's id and secret as a claim token": `wct_${R.id}.${R.secret}`,
        "a claim's id and secret as a principal token": `wpt_${C.id}.${C.secret}`,
        "a claim's id and secret as a runner token": `wrt_${C.id}.${C.secret}`,
        "an enroll token's id and secret as a principal token": `wpt_${E.id}.${E.secret}`,
        "an enroll token's id and secret as a runner token": `wrt_${E.id}.${E.secret}`,
        "the requester's id with the approver's secret": `wpt_${P.id}.${B.secret}`,
        "the requester's id with the runner's secret": `wpt_${P.id}.${R.secret}`,
        "the claim's id with the runner's secret": `wct_${C.id}.${R.secret}`,
        "the runner's id with the claim's secret": `wrt_${R.id}.${C.secret}`,
        "an upper-case prefix": `WPT_${P.id}.${P.secret}`,
        "an upper-case id": `wpt_${P.id.toUpperCase()}.${P.secret}`,
        "one letter of the secret in the other case": `wpt_${P.id}.${swapCase(P.secret)}`,
        "the secret one character short": p.requesterToken.slice(0, -1),
        "the secret one character long": `${p.requesterToken}A`,
        "a base64 '+' (not base64url) in the secret": `wpt_${P.id}.+${P.secret.slice(1)}`,
        "a dot doubled": `wpt_${P.id}..${P.secret}`
      }
      for (const [label, token] of Object.entries(forged)) {
        expect(yield* raw(p.url, "GET", "/runs", { token }), label).toEqual(unknownToken)
        expect(yield* raw(p.url, "POST", "/claim", { token }), label).toEqual(unknownToken)
      }
      // Bytes fetch will not send: a zero-width space after the token, a Cyrillic "р" in the prefix.
      const zeroWidth = yield* rawHttp(p.url, ["GET /runs HTTP/1.1", `Authorization: Bearer ${p.requesterToken}\u200b`])
      expect(zeroWidth).toEqual(unknownToken)
      const homoglyph = yield* rawHttp(p.url, ["GET /runs HTTP/1.1", `Authorization: Bearer w\u0440t_${P.id}.${P.secret}`])
      expect(homoglyph).toEqual(unknownToken)

      // Each real token still opens its own door, and only that.
      expect(yield* raw(p.url, "GET", "/runs", { token: p.requesterToken })).toEqual({ status: 200, body: [expect.objectContaining({ state: "running" })] })
      expect(yield* raw(p.url, "POST", "/claim", { token: runner.token })).toEqual({ status: 200, body: { _tag: "empty" } })
    }).pipe(Effect.provide(TestPlane.layer({ settings: manyGuesses }))))

  it.live("each kind of token opens only its own doors: a claim token reads its own run and nothing else, a runner token reads no run", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const mine = yield* claimedRun(p, runner)
      const other = yield* createRun(p)
      const claimCaller = `claim token of run ${mine.runId}`
      const RUNNER = `runner ${runner.runnerId}`
      const listers = [role("requester"), role("approver"), role("admin")]

      expect((yield* raw(p.url, "GET", `/runs/${mine.runId}`, { token: mine.token })).status).toBe(200)
      expect((yield* raw(p.url, "GET", `/runs/${mine.runId}/events`, { token: mine.token })).body).toEqual(mine.claimed.entries)
      expect(yield* raw(p.url, "GET", `/runs/${other}`, { token: mine.token })).toEqual(runNotFound(other))
      expect(yield* raw(p.url, "GET", `/runs/${other}/events`, { token: mine.token })).toEqual(runNotFound(other))
      expect(yield* raw(p.url, "GET", "/runs", { token: mine.token })).toEqual(forbidden(claimCaller, ...listers))
      expect(yield* raw(p.url, "POST", `/runs/${mine.runId}/cancel`, { token: mine.token, body: "{}" })).toEqual(forbidden(claimCaller, ...listers))
      expect(yield* raw(p.url, "POST", `/runs/${mine.runId}/approve`, { token: mine.token })).toEqual(forbidden(claimCaller, role("approver"), role("admin")))
      expect(yield* raw(p.url, "GET", "/policy", { token: mine.token })).toEqual(forbidden(claimCaller, role("admin"), role("approver"), role("requester")))
      expect(yield* raw(p.url, "GET", "/export", { token: mine.token })).toEqual(forbidden(claimCaller, role("admin")))

      expect(yield* raw(p.url, "GET", `/runs/${mine.runId}`, { token: runner.token })).toEqual(runNotFound(mine.runId))
      expect(yield* raw(p.url, "GET", `/runs/${mine.runId}/events`, { token: runner.token })).toEqual(runNotFound(mine.runId))
      expect(yield* raw(p.url, "GET", `/runs/${mine.runId}/bundle`, { token: runner.token })).toEqual(runNotFound(mine.runId))
      expect(yield* raw(p.url, "GET", "/runs", { token: runner.token })).toEqual(forbidden(RUNNER, ...listers))
      expect(yield* raw(p.url, "POST", `/runs/${mine.runId}/cancel`, { token: runner.token, body: "{}" })).toEqual(forbidden(RUNNER, ...listers))

      // Nothing moved: the claimed run is still running, the other still queued.
      expect((yield* stored(p, mine.runId)).run.state).toBe("running")
      expect((yield* stored(p, other)).run.state).toBe("queued")
    }).pipe(Effect.provide(TestPlane.layer())))
})

// ---------------------------------------------------------------------------------------------

describe("the Authorization header", () => {
  it.live("only the Bearer scheme (in any case) carries a token; another scheme is no token at all, even around a valid one", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const t = p.requesterToken
      const list = (authorization: string) => getWith(p.url, "/runs", { authorization })
      expect(yield* list(`Bearer ${t}`)).toEqual({ status: 200, body: [] })
      expect(yield* list(`bearer ${t}`)).toEqual({ status: 200, body: [] })
      expect(yield* list(`BEARER ${t}`)).toEqual({ status: 200, body: [] })
      // HttpApi reads whatever follows the first seven characters; the plane checks the scheme first.
      for (const header of [`Basic  ${t}`, `Token  ${t}`, `XXXXXX ${t}`, `Bearer${t}`, `${t}`, `Basic ${Buffer.from(`alice:${t}`).toString("base64")}`]) {
        expect(yield* list(header), header.slice(0, 8)).toEqual(missingToken)
      }
      // Not one of those was counted as a guess (the lockout is at 3 here); a malformed bearer token is.
      expect(yield* list(`Bearer  ${t}`)).toEqual(unknownToken)
      expect(yield* list(`Bearer ${t}`)).toEqual({ status: 200, body: [] })

      // Two Authorization headers: Node keeps the first and drops the rest, so the first decides.
      const valid = `Authorization: Bearer ${t}`
      const garbage = "Authorization: Bearer wpt_000000000000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
      expect(yield* rawHttp(p.url, ["GET /runs HTTP/1.1", valid, garbage])).toEqual({ status: 200, body: [] })
      expect(yield* rawHttp(p.url, ["GET /runs HTTP/1.1", garbage, valid])).toEqual(unknownToken)
      // That was the second guess here; the third locks the address, valid token or not.
      expect(yield* list(`Bearer ${t}x`)).toEqual(lockedOut(300))
      expect(yield* list(`Bearer ${t}`)).toEqual(lockedOut(300))
    }).pipe(Effect.provide(TestPlane.layer({ settings: lockoutAfter3 }))))
})

// ---------------------------------------------------------------------------------------------

describe("lockout", () => {
  const spoofed = (i: number) => ({
    "x-forwarded-for": `203.0.113.${i}`,
    forwarded: `for=198.51.100.${i}`,
    "x-real-ip": `192.0.2.${i}`,
    "true-client-ip": `192.0.2.${100 + i}`,
    "cf-connecting-ip": `192.0.2.${200 + i}`
  })

  it.effect("X-Forwarded-For, Forwarded, X-Real-IP and friends do not move the address the lockout counts: it is the socket's", () =>
    onTestClock({ settings: { ...lockoutAfter3, ...quietSweeper } }, Effect.gen(function*() {
      const p = yield* principals
      const enrollToken = Redacted.value((yield* p.admin.admin.createEnrollToken({ payload: { pool: request().pool } })).token)
      const guess = (i: number) => getWith(p.url, "/runs", { authorization: "Bearer guess", ...spoofed(i) })
      expect(yield* guess(1)).toEqual(unknownToken)
      expect(yield* guess(2)).toEqual(unknownToken)
      expect(yield* guess(3)).toEqual(lockedOut(300))
      // A valid token from "another address" is the same socket address, still locked.
      expect(yield* getWith(p.url, "/runs", { authorization: `Bearer ${p.adminToken}`, ...spoofed(4) })).toEqual(lockedOut(300))
      const enroll = yield* Effect.promise(() =>
        fetch(`${p.url}/runners/enroll`, {
          method: "POST",
          headers: { "content-type": "application/json", ...spoofed(6) },
          body: json({ enrollToken, publicKey: freshSigner().publicKey })
        }).then(async (r) => ({ status: r.status, body: await r.json() })))
      expect(enroll).toEqual(lockedOut(300))
      yield* TestClock.adjust(Duration.minutes(5))
      expect(yield* getWith(p.url, "/runs", { authorization: `Bearer ${p.adminToken}`, ...spoofed(5) })).toEqual({ status: 200, body: [] })
    })))

  it.effect("guesses at every kind of token share one lockout per address: principal, claim, runner and enroll", () =>
    onTestClock({ settings: { lockout: { failures: 4, window: Duration.minutes(5), duration: Duration.minutes(5) }, ...quietSweeper } }, Effect.gen(function*() {
      const p = yield* principals
      const unminted = (prefix: string) => `${prefix}_${"0".repeat(24)}.${"A".repeat(43)}`
      expect(yield* raw(p.url, "GET", "/runs", { token: unminted("wpt") })).toEqual(unknownToken)
      expect(yield* raw(p.url, "POST", "/runs/run-1/heartbeat", { token: unminted("wct") })).toEqual(unknownToken)
      expect(yield* raw(p.url, "POST", "/claim", { token: unminted("wrt") })).toEqual(unknownToken)
      const enroll = yield* raw(p.url, "POST", "/runners/enroll", { body: json({ enrollToken: unminted("wet"), publicKey: freshSigner().publicKey }) })
      expect(enroll).toEqual(lockedOut(300))
      expect(yield* raw(p.url, "GET", "/runs", { token: p.requesterToken })).toEqual(lockedOut(300))
    })))

  it.live("a spent claim token is no guess: presenting it again and again never locks the address out", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      yield* p.requester.runs.cancel({ path: { runId: run.runId }, payload: {} })
      for (let i = 0; i < 10; i++) expect(yield* raw(p.url, "POST", `/runs/${run.runId}/heartbeat`, { token: run.token })).toEqual(spentToken)
      expect(yield* raw(p.url, "GET", "/runs", { token: p.approverToken })).toEqual({ status: 200, body: [expect.objectContaining({ runId: run.runId, state: "cancelled" })] })
    }).pipe(Effect.provide(TestPlane.layer({ settings: lockoutAfter3 }))))
})

// ---------------------------------------------------------------------------------------------

describe("another principal's runs", () => {
  it.live("a requester reaches none of another requester's runs, events, bundle or blobs, by id or by list filter", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const carol = yield* principal(p, "carol")
      const runner = yield* enrollRunner(p, "runner-a")
      // Alice uploads a file and runs on it; the run completes, so it has a bundle.
      const file = blob("alice's untracked notes\n")
      yield* p.requester.blobs.put({ path: { hash: file.hash }, payload: file.bytes })
      const shipping = requestWith({
        workspace: { version: "warrant.manifest.v1", source: "directory", files: [{ path: "notes.md", hash: file.hash, size: file.size, untracked: true }], denied: [], deniedPatterns: [] }
      })
      const created = yield* p.requester.runs.create({ payload: shipping })
      if (created._tag !== "created") return expect.fail("not created")
      const alices = created.run.runId
      const claimed = yield* claimOrFail(runner)
      const side = yield* runnerSide(p, runner, claimed)
      const claim = yield* claimClient(p, claimed)
      yield* claim.runner.postEvents({ path: { runId: alices }, payload: { entries: side.fresh } })
      yield* claim.runner.complete({ path: { runId: alices }, payload: { receipt: side.receipt } })

      const asCarol = (method: string, path: string, body?: string) => raw(p.url, method, path, { token: carol.token, ...(body === undefined ? {} : { body }) })
      // A requester's list is its own whatever `requestedBy` says.
      expect(yield* asCarol("GET", "/runs?requestedBy=alice")).toEqual({ status: 200, body: [] })
      expect(yield* asCarol("GET", "/runs?requestedBy=alice&state=completed&limit=1000")).toEqual({ status: 200, body: [] })
      const carols = yield* carol.client.runs.create({ payload: request() })
      if (carols._tag !== "created") return expect.fail("not created")
      const listed = yield* asCarol("GET", "/runs?requestedBy=alice")
      expect((listed.body as ReadonlyArray<{ runId: string; requestedBy: unknown }>).map((r) => [r.runId, r.requestedBy])).toEqual([[carols.run.runId, { kind: "human", id: "carol" }]])

      for (const path of [`/runs/${alices}`, `/runs/${alices}/events`, `/runs/${alices}/bundle`]) expect(yield* asCarol("GET", path), path).toEqual(runNotFound(alices))
      expect(yield* asCarol("POST", `/runs/${alices}/cancel`, "{}")).toEqual(runNotFound(alices))
      expect(yield* asCarol("POST", `/runs/${alices}/approve`)).toEqual(forbidden("principal carol (requester)", role("approver"), role("admin")))
      expect(yield* asCarol("GET", `/blobs/${file.hash}`)).toEqual({ status: 404, body: refusal("NotFound", { resource: "blob", id: file.hash }) })
      // Referencing alice's blob does not make it carol's.
      const borrow = yield* asCarol("POST", "/runs", json(encodeRequest(shipping)))
      expect(borrow).toEqual({ status: 422, body: refusal("BlobRejected", { hashes: [file.hash] }) })
      expect(yield* asCarol("GET", "/export")).toEqual(forbidden("principal carol (requester)", role("admin")))
      expect(yield* raw(p.url, "GET", "/export", { token: p.approverToken })).toEqual(forbidden("principal bob (approver)", role("admin")))

      // Alice's run, its chain and its bundle are as they were; she and the approver read them.
      const mine = yield* p.requester.runs.bundle({ path: { runId: alices } })
      expect(mine.events).toEqual(side.entries)
      expect((yield* stored(p, alices)).run.state).toBe("completed")
      expect(yield* raw(p.url, "GET", `/blobs/${file.hash}`, { token: p.approverToken })).toEqual({ status: 200, body: "alice's untracked notes\n" })
    }).pipe(Effect.provide(TestPlane.layer())))
})

describe("paths and framing", () => {
  it.live("no spelling of a path reaches a route it does not name, and every route checks its own caller", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const get = (path: string) => rawHttp(p.url, [`GET ${path} HTTP/1.1`, `Authorization: Bearer ${p.requesterToken}`])
      const noRoute = (path: string) => ({ status: 404, body: refusal("NotFound", { resource: "route", id: path }) })
      const notAdmin = forbidden("principal alice (requester)", role("admin"))
      for (const path of ["/runs/../principals", "/runs/./../principals", "/runs/%2e%2e/principals"]) expect(yield* get(path), path).toEqual(noRoute(path))
      // Spellings the router folds onto /principals reach its handler, which refuses a requester.
      for (const path of ["//principals", "/principals/", "/PRINCIPALS", "/%70rincipals", "/principals?role=admin", "http://evil.example/principals"]) {
        expect(yield* get(path), path).toEqual(notAdmin)
      }
      // The router ends a path at ";": this is GET /runs, the requester's own (empty) list.
      expect(yield* get("/runs;/../principals")).toEqual({ status: 200, body: [] })
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("framing that could smuggle a second request (Content-Length with Transfer-Encoding, two lengths) is a structured 400", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const post = (...framing: Array<string>) => (body: string) =>
        rawHttp(p.url, ["POST /runs HTTP/1.1", `Authorization: Bearer ${p.requesterToken}`, "Content-Type: application/json", ...framing], body)
      const invalid = (code: string) => ({ status: 400, body: refusal("BadRequest", { issues: [] }), code })
      const both = yield* post("Content-Length: 4", "Transfer-Encoding: chunked")("0\r\n\r\nGET /principals HTTP/1.1\r\n\r\n")
      expect({ ...both, code: /\((HPE_[A-Z_]+)\)/.exec(errorBody(both).message)?.[1] }).toEqual(invalid("HPE_INVALID_TRANSFER_ENCODING"))
      const two = yield* post("Content-Length: 2", "Content-Length: 40")("{}")
      expect({ ...two, code: /\((HPE_[A-Z_]+)\)/.exec(errorBody(two).message)?.[1] }).toEqual(invalid("HPE_UNEXPECTED_CONTENT_LENGTH"))
      expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
    }).pipe(Effect.provide(TestPlane.layer())))
})

// ---------------------------------------------------------------------------------------------

describe("the event chain cannot be forged", () => {
  it.live("a runner cannot rewrite the plane's entries, from the genesis or from the middle, nor continue from a history of its own", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const { runId, claimed, side, token } = yield* claimedRun(p, runner)
      const genesis = contractHash(claimed.contract)
      const [created, evaluated] = claimed.entries as unknown as [ChainEntry, ChainEntry, ChainEntry]
      const ts = created.ts
      const mallory = { kind: "human" as const, id: "mallory" }
      const rest = side.fresh.map((e) => e.event)

      // From seq 0: run.created by another requester, relinked from the genesis, then the runner's events.
      const fromGenesis = [link(genesis, 0, ts, { type: "run.created", runId, requestedBy: mallory }), ...claimed.entries.slice(1).map((e) => e.event)]
      const forgedZero = [fromGenesis[0] as ChainEntry, ...relink(fromGenesis[0] as ChainEntry, [...(fromGenesis.slice(1) as Array<RunEvent>), ...rest])]
      expect(yield* postEventsRaw(p, token, runId, forgedZero)).toEqual({ status: 409, body: refusal("ChainRejected", { runId, index: 0, kind: "conflict" }) })

      // From seq 1: the true run.created, then a policy decision the plane never made.
      const forgedOne = relink(created, [{ type: "policy.evaluated", policyHash: claimed.contract.policyHash, decision: "allow", reasons: ["mallory says so"] }, ...rest])
      expect(yield* postEventsRaw(p, token, runId, [created, ...forgedOne])).toEqual({ status: 409, body: refusal("ChainRejected", { runId, index: 1, kind: "conflict" }) })

      // From the head's seq, linked to a forged predecessor instead of the stored head.
      const alternate = relink(forgedOne[0]!, rest)
      const atHead = alternate.map((e, i) => link(e.prevHash, claimed.entries.length + i, e.ts, e.event))
      expect(atHead[0]!.seq).toBe(claimed.entries.length)
      expect(yield* postEventsRaw(p, token, runId, atHead)).toEqual({ status: 409, body: refusal("ChainRejected", { runId, index: 0, kind: "prevHash" }) })

      // A hash that does not cover its content, and a seq past the head.
      const lying = { ...side.fresh[0]!, event: { ...side.fresh[0]!.event, manifestHash: sha256("another workspace") } }
      expect(yield* postEventsRaw(p, token, runId, [lying])).toEqual({ status: 409, body: refusal("ChainRejected", { runId, index: 0, kind: "hash" }) })
      expect(yield* postEventsRaw(p, token, runId, side.fresh.slice(1))).toEqual({ status: 409, body: refusal("ChainRejected", { runId, index: 0, kind: "seq" }) })

      // An entry re-posted under the stored hash with other content is only compared, never stored: a no-op.
      const relabelled = { ...evaluated, event: { ...evaluated.event, reasons: ["mallory says so"] } }
      expect(yield* postEventsRaw(p, token, runId, [relabelled])).toEqual({ status: 200, body: { stored: 0, count: claimed.entries.length, head: claimed.entries.at(-1)!.hash, leaseExpiresAt: expect.any(String) } })

      // Nothing of any forged batch was stored; the honest continuation is taken.
      expect((yield* stored(p, runId)).events).toEqual(claimed.entries)
      expect(yield* postEventsRaw(p, token, runId, side.fresh)).toEqual({ status: 200, body: expect.objectContaining({ stored: side.fresh.length }) })
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("an entry or event with a field the schema does not know is refused (400), whether or not its hash covers the field", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const { runId, claimed, side, token } = yield* claimedRun(p, runner)
      const head = claimed.entries.at(-1)!
      const first = side.fresh[0]!
      const withHashCovering = (entry: Record<string, unknown>) => {
        const { hash: _hash, ...body } = entry
        return { ...body, hash: sha256(JSON.stringify(body)) }
      }
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ ...first, event: { ...first.event, note: "not in the schema" } }, "$.entries[0].event.note"],
        [withHashCovering({ ...first, event: { ...first.event, note: "not in the schema" } }), "$.entries[0].event.note"],
        [{ ...first, signedBy: "the plane" }, "$.entries[0].signedBy"],
        [withHashCovering({ ...first, signedBy: "the plane" }), "$.entries[0].signedBy"]
      ]
      for (const [entry, at] of cases) {
        const response = yield* postEventsRaw(p, token, runId, [entry])
        expect(response, at).toEqual({ status: 400, body: refusal("BadRequest", { issues: [expect.objectContaining({ path: at })] }) })
      }
      expect((yield* stored(p, runId)).events).toEqual(claimed.entries)
      expect((yield* postEventsRaw(p, token, runId, [link(head.hash, head.seq + 1, head.ts, first.event)])).status).toBe(200)
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("nothing follows the terminal event: not a second batch after run.completed, not an entry after it in the same batch", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const a = yield* claimedRun(p, runner)
      yield* a.claim.runner.postEvents({ path: { runId: a.runId }, payload: { entries: a.side.fresh } })
      const after = relink(a.side.entries.at(-1)!, [{ type: "command.executed", argvHash: sha256("rm -rf /"), exitCode: 0, durationMs: 1 }])
      expect(yield* postEventsRaw(p, a.token, a.runId, after)).toEqual({ status: 409, body: refusal("ChainRejected", { runId: a.runId, index: 0, kind: "afterTerminal" }) })
      // Nor a second terminal event of another kind.
      const failedToo = relink(a.side.entries.at(-1)!, [{ type: "run.failed", failureClass: "agent", message: "changed my mind" }])
      expect(yield* postEventsRaw(p, a.token, a.runId, failedToo)).toEqual({ status: 409, body: refusal("ChainRejected", { runId: a.runId, index: 0, kind: "afterTerminal" }) })

      const b = yield* claimedRun(p, runner)
      const trailing = [...b.side.fresh, ...relink(b.side.entries.at(-1)!, [{ type: "artifact.created", kind: "file", hash: sha256("x"), size: 1 }])]
      expect(yield* postEventsRaw(p, b.token, b.runId, trailing)).toEqual({ status: 409, body: refusal("ChainRejected", { runId: b.runId, index: b.side.fresh.length, kind: "afterTerminal" }) })
      expect((yield* stored(p, b.runId)).events).toEqual(b.claimed.entries)

      // The honest completion of the first run still stands.
      const done = yield* a.claim.runner.complete({ path: { runId: a.runId }, payload: { receipt: a.side.receipt } })
      expect(done.run.state).toBe("completed")
      expect(terminal(yield* p.admin.runs.events({ path: { runId: a.runId } }))).toBe(1)
    }).pipe(Effect.provide(TestPlane.layer())))
})

// ---------------------------------------------------------------------------------------------

describe("receipts cannot be forged", () => {
  it.live("a receipt whose summaries lie is refused (422) even signed honestly by the runner's key; the run stays running", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const { runId, side, claim, token } = yield* claimedRun(p, runner)
      yield* claim.runner.postEvents({ path: { runId }, payload: { entries: side.fresh } })
      const lies: ReadonlyArray<readonly [string, (r: Receipt) => Receipt, ReadonlyArray<string>]> = [
        ["no network", (r) => ({ ...r, networkAccessed: [] }), ["receipt.summary-mismatch at $.receipt.networkAccessed"]],
        ["a secret released", (r) => ({ ...r, secretsReleased: [{ name: NPM_TOKEN, scope: `run:${runId}`, ts: r.startedAt }] }), ["receipt.summary-mismatch at $.receipt.secretsReleased"]],
        ["failed, not completed", (r) => ({ ...r, status: "failed" }), ["receipt.summary-mismatch at $.receipt.status"]],
        ["an artifact", (r) => ({ ...r, workspaceOut: { artifactHashes: [sha256("an artifact")] } }), ["receipt.summary-mismatch at $.receipt.workspaceOut.artifactHashes"]],
        ["fewer events", (r) => ({ ...r, eventCount: r.eventCount - 1 }), ["receipt.count-mismatch at $.receipt.eventCount"]],
        ["a stronger tier", (r) => ({ ...r, runner: { ...r.runner, isolation: "namespace" } }), ["receipt.runner-mismatch at $.receipt.runner", "receipt.dishonest-tier at $.receipt.sandbox.tier"]],
        ["hardware attestation", (r) => ({ ...r, runner: { ...r.runner, attestationTier: "tee" } }), ["receipt.dishonest-tier at $.receipt.runner.attestationTier"]],
        ["TPM attestation", (r) => ({ ...r, runner: { ...r.runner, attestationTier: "tpm" } }), ["receipt.dishonest-tier at $.receipt.runner.attestationTier"]]
      ]
      for (const [label, change, codes] of lies) {
        const lie = yield* resign(side.receipt, runner.signer, change)
        const response = yield* completeRaw(p, token, runId, lie)
        expect(response.status, label).toBe(422)
        expect(errorBody(response).error, label).toBe("ReceiptRejected")
        expect(problemCodes(response), label).toEqual(codes)
      }
      expect((yield* stored(p, runId)).run.state).toBe("running")
      expect((yield* completeRaw(p, token, runId, side.receipt)).status).toBe(200)
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("a receipt already carrying a plane signature is refused: one lifted from another run's receipt, or one the runner's key made", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const a = yield* claimedRun(p, runner)
      yield* a.claim.runner.postEvents({ path: { runId: a.runId }, payload: { entries: a.side.fresh } })
      const countersigned = (yield* a.claim.runner.complete({ path: { runId: a.runId }, payload: { receipt: a.side.receipt } })).receipt
      expect(countersigned.signatures.map((s) => s.role)).toEqual(["runner", "plane"])

      const b = yield* claimedRun(p, runner)
      yield* b.claim.runner.postEvents({ path: { runId: b.runId }, payload: { entries: b.side.fresh } })
      const lifted = { ...b.side.receipt, signatures: [...b.side.receipt.signatures, countersigned.signatures[1]!] }
      const liftedResponse = yield* completeRaw(p, b.token, b.runId, lifted)
      expect(liftedResponse.status).toBe(422)
      expect(problemCodes(liftedResponse)).toEqual([
        "trust.untrusted-key at $.receipt.signatures[1]",
        "receipt.countersignature-invalid at $.receipt.signatures[1]"
      ])
      const selfSigned = yield* runner.signer.signObject("receipt", "plane", encodeReceipt(b.side.receipt), b.side.receipt.signatures)
      const own = { ...b.side.receipt, signatures: [...b.side.receipt.signatures, selfSigned] }
      const ownResponse = yield* completeRaw(p, b.token, b.runId, own)
      expect(ownResponse.status).toBe(422)
      expect(problemCodes(ownResponse)).toEqual([
        "trust.untrusted-key at $.receipt.signatures[1]",
        "receipt.countersigner-mismatch at $.receipt.signatures[1]"
      ])
      expect((yield* stored(p, b.runId)).run.state).toBe("running")
      const done = yield* completeRaw(p, b.token, b.runId, b.side.receipt)
      expect(done.status).toBe(200)
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("a receipt from another run is refused: a completed run's receipt on a live run, countersigned or as the runner signed it", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const a = yield* claimedRun(p, runner)
      yield* a.claim.runner.postEvents({ path: { runId: a.runId }, payload: { entries: a.side.fresh } })
      const countersigned = (yield* a.claim.runner.complete({ path: { runId: a.runId }, payload: { receipt: a.side.receipt } })).receipt

      const b = yield* claimedRun(p, runner)
      yield* b.claim.runner.postEvents({ path: { runId: b.runId }, payload: { entries: b.side.fresh } })
      for (const [label, receipt] of [["countersigned", countersigned], ["runner-signed", a.side.receipt]] as const) {
        const response = yield* completeRaw(p, b.token, b.runId, receipt)
        expect(response.status, label).toBe(422)
        const codes = problemCodes(response)
        expect(codes, label).toContain("receipt.run-mismatch at $.receipt.runId")
        expect(codes, label).toContain("receipt.contract-hash-mismatch at $.receipt.contractHash")
        expect(codes, label).toContain("receipt.head-mismatch at $.receipt.eventsHead")
      }
      // And the spent claim token of the completed run cannot complete it again.
      expect(yield* completeRaw(p, a.token, a.runId, a.side.receipt)).toEqual(spentToken)
      expect((yield* stored(p, b.runId)).run.state).toBe("running")
      expect((yield* completeRaw(p, b.token, b.runId, b.side.receipt)).status).toBe(200)
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("a run whose contract demands enforcement does not complete without the sandbox.attested event that records it", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const silent = yield* claimedRun(p, runner, (manifestHash) => [{ type: "workspace.materialized", manifestHash }, { type: "run.completed", exitCode: 0 }])
      expect(silent.claimed.contract.isolation.enforce).toEqual(["env"])
      yield* silent.claim.runner.postEvents({ path: { runId: silent.runId }, payload: { entries: silent.side.fresh } })
      const refused = yield* completeRaw(p, silent.token, silent.runId, silent.side.receipt)
      expect(refused.status).toBe(422)
      expect(problemCodes(refused)).toEqual(["receipt.dishonest-tier at $.receipt.sandbox"])
      expect((yield* stored(p, silent.runId)).run.state).toBe("running")

      // A run that failed before any session started needs no attestation; an attested one completes.
      const failed = yield* claimedRun(p, runner, (manifestHash) => [{ type: "workspace.materialized", manifestHash }, { type: "run.failed", failureClass: "sandbox", message: "no tier can enforce env here" }])
      yield* failed.claim.runner.postEvents({ path: { runId: failed.runId }, payload: { entries: failed.side.fresh } })
      expect(yield* completeRaw(p, failed.token, failed.runId, failed.side.receipt)).toMatchObject({ status: 200, body: { run: { state: "failed" } } })
      const attested = yield* claimedRun(p, runner)
      yield* attested.claim.runner.postEvents({ path: { runId: attested.runId }, payload: { entries: attested.side.fresh } })
      expect(yield* completeRaw(p, attested.token, attested.runId, attested.side.receipt)).toMatchObject({ status: 200, body: { run: { state: "completed" } } })
    }).pipe(Effect.provide(TestPlane.layer({ policy: { ...samplePolicy, enforce: ["env"] } }))))
})

// ---------------------------------------------------------------------------------------------

describe("lone surrogates never reach a signature", () => {
  it.live("a lone UTF-16 surrogate is a 400 in a run request or a cancel reason, a refused link in an event, a refused receipt: never a 500", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const wire = json(encodeRequest(request()))
      const post = (body: string) => raw(p.url, "POST", "/runs", { token: p.requesterToken, body })
      expect(yield* post(wire.replace('"prompt":"npm test"', '"prompt":"npm \\ud800 test"'))).toEqual(badRequestAt("$.task.prompt"))
      expect(yield* post(wire.replace('"CI":"1"', '"CI":"\\udfff"'))).toEqual(badRequestAt("$.execution.env.vars.CI"))
      expect(yield* post(wire.replace('"script":"npm test"', '"script":"\\ud83d"'))).toEqual(badRequestAt("$.execution.command.script"))
      // A dry run is refused alike: what it reports could never be created.
      expect(yield* post(wire.replace('"prompt":"npm test"', '"prompt":"\\ud800"').replace(/}$/, ',"dryRun":true}'))).toEqual(badRequestAt("$.task.prompt"))
      // A well-formed pair is fine.
      const pair = yield* post(wire.replace('"prompt":"npm test"', '"prompt":"npm test \\ud83d\\ude80"').replace(/}$/, ',"dryRun":true}'))
      expect(pair).toMatchObject({ status: 200, body: { _tag: "dry-run", report: { decision: "allow" } } })

      const run = yield* claimedRun(p, runner)
      const cancel = yield* raw(p.url, "POST", `/runs/${run.runId}/cancel`, { token: p.requesterToken, body: '{"reason":"oops \\udc00"}' })
      expect(cancel).toEqual(badRequestAt("$.reason"))
      expect((yield* stored(p, run.runId)).run.state).toBe("running")

      // An event: JSON can carry it, the chain cannot hash it.
      const head = run.claimed.entries.at(-1)!
      const failed = json([{ version: "warrant.event.v1", seq: head.seq + 1, ts: head.ts, prevHash: head.hash, hash: sha256("x"), event: { type: "run.failed", failureClass: "agent", message: "PLACEHOLDER" } }]).replace("PLACEHOLDER", "\\ud800")
      const event = yield* raw(p.url, "POST", `/runs/${run.runId}/events`, { token: run.token, body: `{"entries":${failed}}` })
      expect(event).toEqual({ status: 409, body: refusal("ChainRejected", { runId: run.runId, index: 0, kind: "hash" }) })

      // A receipt: its signature cannot be checked over text canonical JSON cannot spell.
      yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh } })
      const receipt = json({ receipt: encodeReceipt(run.side.receipt) }).replace('"host":"registry.npmjs.org"', '"host":"registry.npmjs.org\\ud800"')
      const completed = yield* raw(p.url, "POST", `/runs/${run.runId}/complete`, { token: run.token, body: receipt })
      expect(completed.status).toBe(422)
      expect(errorBody(completed).error).toBe("ReceiptRejected")

      // The run is intact and ends honestly.
      expect((yield* completeRaw(p, run.token, run.runId, run.side.receipt)).status).toBe(200)
    }).pipe(Effect.provide(TestPlane.layer())))
})

// ---------------------------------------------------------------------------------------------

describe("policy cannot be loosened by spelling", () => {
  const network = {
    defaultDeny: true,
    allowHosts: ["registry.npmjs.org", "*.example.com", "api.example.org:8443"],
    allowAddresses: ["10.0.0.0/8", "169.254.0.0/16"]
  }
  const hostPolicy = policyWith({ enforce: [], network })

  it.live("hosts in exotic spellings are judged by their canonical form: equal spellings allowed, every wider one denied", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const allowed = [
        "REGISTRY.NPMJS.ORG", "registry.npmjs.org.", "Registry.Npmjs.Org.", "registry.npmjs.org:443", "registry.npmjs.org:80", "registry.npmjs.org:0443",
        "a.example.com", "A.B.EXAMPLE.COM.", "*.example.com", "*.a.example.com", "bücher.example.com", "xn--bcher-kva.example.com", "api.example.org:8443"
      ]
      const denied = [
        "registry.npmjs.org:8080", "registry.npmjs.org:0", "*.npmjs.org", "npmjs.org", "registry.npmjs.org.evil.com", "evilregistry.npmjs.org",
        "example.com", "*.com", "*", "*.*.example.com", "a.*.example.com", "api.example.org", "api.example.org:443",
        "registry.npmjs.org@evil.com", "evil.com#registry.npmjs.org", "evil.com/registry.npmjs.org", "registry.npmjs.org:65536",
        "127.0.0.1", "0x7f.1", "0177.0.0.1", "2130706433", "127.1", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
        "169.254.169.254", "[::ffff:169.254.169.254]", "0xa9.0xfe.0xa9.0xfe", "metadata.google.internal", "localhost", "LOCALHOST."
      ]
      for (const host of allowed) expect(yield* judged(p, withHosts(host)), host).toEqual({ decision: "allow", rules: [] })
      for (const host of denied) expect(yield* judged(p, withHosts(host)), host).toEqual({ decision: "deny", rules: ["network.host"] })
    }).pipe(Effect.provide(TestPlane.layer({ policy: hostPolicy }))))

  it.live("addresses: a block inside the policy's is allowed; metadata, loopback and wider blocks in any spelling are denied", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const allowed = ["10.1.0.0/16", "10.0.0.1", "10.0.0.1/32", "[::ffff:10.0.0.1]", "::ffff:10.0.0.0/104", "169.254.0.0/16", "169.254.1.0/24"]
      const denied = [
        "169.254.169.254", "169.254.169.254/32", "::ffff:169.254.169.254", "[::ffff:a9fe:a9fe]", "0.0.0.0/0", "::/0", "10.0.0.0/7",
        "127.0.0.1", "127.0.0.0/8", "[::1]", "fd00::/8", "192.168.0.0/16", "10.0.0.1/8", "::ffff:0.0.0.0/80", "not-an-address"
      ]
      for (const address of allowed) expect(yield* judged(p, withAddresses(address)), address).toEqual({ decision: "allow", rules: [] })
      for (const address of denied) expect(yield* judged(p, withAddresses(address)), address).toEqual({ decision: "deny", rules: ["network.address"] })
    }).pipe(Effect.provide(TestPlane.layer({ policy: hostPolicy }))))

  it.live("a request may not set or fill the proxy variables in any case: PolicyDenied env.vars / env.secrets, with or without a command allowlist", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const proxies = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "All_Proxy", "ALL_PROXY", "NO_PROXY", "no_proxy", "FTP_PROXY"]
      for (const name of proxies) {
        const response = yield* raw(p.url, "POST", "/runs", { token: p.requesterToken, body: json(encodeRequest(requestWith({}, {}, { vars: { [name]: "http://attacker.example:3128" } }))) })
        expect(response, name).toEqual({ status: 403, body: refusal("PolicyDenied", { policyHash: expect.any(String), violations: [{ rule: "env.vars", message: expect.stringContaining(`the request sets "${name}", a proxy variable`) }] }) })
      }
      const filled = yield* judged(p, requestWith({}, {}, { secrets: [{ env: "HTTPS_PROXY", secretName: "NPM_TOKEN" }] }))
      expect(filled).toEqual({ decision: "deny", rules: ["env.secrets"] })
      // Without a command allowlist the request picks its own code anyway: PATH and LD_PRELOAD are its business.
      expect(yield* judged(p, requestWith({}, {}, { vars: { PATH: "/opt/tools/bin", LD_PRELOAD: "./libfast.so", CI: "1" } }))).toEqual({ decision: "allow", rules: [] })
      expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
    }).pipe(Effect.provide(TestPlane.layer({ policy: policyWith({ enforce: [] }) }))))

  it.live("under a command allowlist: argv[0] must be listed exactly, and no variable may choose or inject the code the command runs", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const git = (...argv: [string, ...Array<string>]) => ({ command: { kind: "argv" as const, argv } })
      expect(yield* judged(p, requestWith({}, git("git", "status")))).toEqual({ decision: "allow", rules: [] })
      for (const argv0 of ["./git", "/usr/bin/git", "git ", " git", "GIT", "git\u0000", "git/", "bin/../git", "env", "sh"]) {
        expect(yield* judged(p, requestWith({}, git(argv0, "status"))), JSON.stringify(argv0)).toEqual({ decision: "deny", rules: ["command"] })
      }
      expect(yield* judged(p, requestWith({}, git("env", "git", "status")))).toEqual({ decision: "deny", rules: ["command"] })
      expect(yield* judged(p, requestWith({}, { command: { kind: "shell", shell: "sh", script: "git status" } }))).toEqual({ decision: "deny", rules: ["command"] })
      expect(yield* judged(p, requestWith({ agent: "claude-code" }, { command: { kind: "agent" } }))).toEqual({ decision: "deny", rules: ["command"] })

      const steering = ["PATH", "Path", "LD_PRELOAD", "ld_preload", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "BASH_ENV", "ENV", "NODE_OPTIONS", "PYTHONPATH", "PERL5OPT", "RUBYOPT"]
      for (const name of steering) {
        expect(yield* judged(p, requestWith({}, git("git", "status"), { vars: { [name]: "./evil" } })), name).toEqual({ decision: "deny", rules: ["env.vars"] })
      }
      expect(yield* judged(p, requestWith({}, git("git", "status"), { secrets: [{ env: "LD_PRELOAD", secretName: "NPM_TOKEN" }] }))).toEqual({ decision: "deny", rules: ["env.secrets"] })
      expect(yield* judged(p, requestWith({}, git("git", "status"), { vars: { CI: "1", GIT_TERMINAL_PROMPT: "0" }, secrets: [{ env: "NPM_TOKEN", secretName: "NPM_TOKEN" }] }))).toEqual({ decision: "allow", rules: [] })
    }).pipe(Effect.provide(TestPlane.layer({ policy: policyWith({ enforce: [], commands: ["git"] }) }))))

  it.live("a cwd that leaves the workspace, in any spelling, is a 400 before policy", () =>
    Effect.gen(function*() {
      const p = yield* principals
      for (const cwd of ["src/../../etc", "./..", "a//../..", "src/..", "..", "../", "/", "//etc", "src\\..\\..", "src/\u0000"]) {
        const body = json({ ...encodeRequest(request()), execution: { ...encodeRequest(request()).execution, cwd } })
        expect(yield* raw(p.url, "POST", "/runs", { token: p.requesterToken, body }), JSON.stringify(cwd)).toEqual(badRequestAt("$.execution.cwd"))
      }
      // A directory literally named like an encoded dot-dot is just a name.
      expect((yield* raw(p.url, "POST", "/runs", { token: p.requesterToken, body: json({ ...encodeRequest(request()), execution: { ...encodeRequest(request()).execution, cwd: "%2e%2e" } }) })).status).toBe(201)
    }).pipe(Effect.provide(TestPlane.layer())))
})

// ---------------------------------------------------------------------------------------------

describe("secret values", () => {
  it.live("a secret value or an enroll token is never repeated in an error: the 400 names the field, not the value", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const secret = "SUPERSECRET-c2VjcmV0"
      const put = (value: unknown) => raw(p.url, "PUT", "/secrets/NPM_TOKEN", { token: p.adminToken, body: json({ value }) })
      const valueIssue = { issues: [{ path: "$.value", message: "expected a secret value: a string of at most 65536 characters (the value sent is not repeated here)" }] }
      for (const value of [secret.repeat(4000), [secret], { nested: secret }, 42, null]) {
        const response = yield* put(value)
        expect(response, JSON.stringify(value).slice(0, 40)).toEqual({ status: 400, body: refusal("BadRequest", valueIssue) })
        expect(json(response.body)).not.toContain("SUPERSECRET")
      }
      const enroll = yield* raw(p.url, "POST", "/runners/enroll", { body: json({ enrollToken: `wet_${secret.repeat(40)}`, publicKey: freshSigner().publicKey }) })
      expect(enroll).toEqual({ status: 400, body: refusal("BadRequest", { issues: [{ path: "$.enrollToken", message: "expected an enroll token: a string of at most 512 characters (the value sent is not repeated here)" }] }) })
      expect(json(enroll.body)).not.toContain("SUPERSECRET")
      expect(yield* p.admin.admin.listSecrets()).toEqual([])
      // A value within the limit is stored, and shown nowhere.
      const stored = yield* put(secret)
      expect(stored).toEqual({ status: 200, body: { name: "NPM_TOKEN", updatedAt: expect.any(String) } })
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("before a claim a requester cannot tell a stored secret from a missing one; secret names cannot leave the store's key", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const carol = yield* principal(p, "carol")
      yield* p.admin.admin.putSecret({ path: { name: NPM_TOKEN }, payload: { value: Redacted.make("npm-secret-value") } })
      yield* p.admin.admin.putSecret({ path: { name: Schema.decodeSync(SecretName)("ADMIN_ONLY") }, payload: { value: Redacted.make("admin-secret-value") } })
      const using = (name: string) => requestWith({}, {}, { secrets: [{ env: "TOKEN", secretName: name }] })
      const report = (name: string) =>
        Effect.map(p.requester.runs.create({ payload: { ...using(name), dryRun: true } }), (r) => json(r).replaceAll(name, "<NAME>"))
      // Releasable, stored (NPM_TOKEN) or not (MISSING): the same report.
      expect(yield* report("NPM_TOKEN")).toBe(yield* report("MISSING_TOKEN"))
      // Not releasable, stored (ADMIN_ONLY) or not (NOPE): the same denial.
      const denial = (name: string) => Effect.map(raw(p.url, "POST", "/runs", { token: p.requesterToken, body: json(encodeRequest(using(name))) }), (r) => json(r).replaceAll(name, "<NAME>"))
      expect(yield* denial("ADMIN_ONLY")).toBe(yield* denial("NOPE"))
      expect((yield* raw(p.url, "GET", "/secrets", { token: carol.token })).status).toBe(403)
      // A name is a key, never a path: "_.." and "a.b-c" are stored under exactly those names.
      for (const name of ["_..", "a.b-c"]) expect((yield* raw(p.url, "PUT", `/secrets/${name}`, { token: p.adminToken, body: json({ value: "v" }) })).status, name).toBe(200)
      expect((yield* p.admin.admin.listSecrets()).map((s) => s.name)).toEqual(["ADMIN_ONLY", "NPM_TOKEN", "_..", "a.b-c"])
    }).pipe(Effect.provide(TestPlane.layer({ policy: policyWith({ enforce: [], releasableSecrets: ["NPM_TOKEN", "MISSING_TOKEN"] }) }))))
})

// ---------------------------------------------------------------------------------------------

describe("bounded input", () => {
  it.live("JSON nested deeper than canonical JSON allows is a 400 on every JSON endpoint, in any content type spelling, and the plane keeps serving", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      const arrays = (depth: number) => "[".repeat(depth) + "]".repeat(depth)
      const objects = (depth: number) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth)
      const tooDeep = { status: 400, body: refusal("BadRequest", { issues: [{ path: "$", message: "nested deeper than 256 levels" }] }) }
      const bodies = [arrays(5_000), `{"agent":${arrays(200_000)}}`, objects(100_000), `{"task":{"prompt":"x"},"agent":${arrays(257)}}`]
      const endpoints: ReadonlyArray<readonly [string, string, string | undefined]> = [
        ["POST", "/runs", p.requesterToken],
        ["POST", "/principals", p.adminToken],
        ["PUT", "/secrets/NPM_TOKEN", p.adminToken],
        ["POST", "/enroll-tokens", p.adminToken],
        ["POST", "/runners/enroll", undefined],
        ["POST", `/runs/${run.runId}/events`, run.token],
        ["POST", `/runs/${run.runId}/complete`, run.token],
        ["POST", `/runs/${run.runId}/cancel`, p.requesterToken],
        ["PUT", `/blobs/${sha256("x")}`, p.requesterToken]
      ]
      for (const [method, path, token] of endpoints) {
        for (const body of bodies) {
          for (const contentType of ["application/json", "Application/JSON; charset=utf-8", ""]) {
            const response = yield* Effect.promise(async (): Promise<RawResponse> => {
              const headers: Record<string, string> = { "content-type": contentType }
              if (token !== undefined) headers.authorization = `Bearer ${token}`
              const r = await fetch(p.url + path, { method, headers, body })
              return { status: r.status, body: await r.json() }
            })
            expect(response, `${method} ${path} (${contentType}) ${body.slice(0, 20)}`).toEqual(tooDeep)
          }
        }
      }
      // 256 levels is decoded as usual (a plain 400 for the wrong shape); brackets inside strings do not count.
      const atLimit = yield* raw(p.url, "POST", "/runs", { token: p.requesterToken, body: `{"agent":${arrays(255)}}` })
      expect(atLimit).toEqual(badRequestAt("$.agent"))
      const prompt = json({ ...encodeRequest(request()), task: { prompt: "[{".repeat(5_000) } })
      expect((yield* raw(p.url, "POST", "/runs", { token: p.requesterToken, body: prompt })).status).toBe(201)
      expect(yield* raw(p.url, "GET", "/health")).toEqual({ status: 200, body: { status: "ok" } })
      expect((yield* stored(p, run.runId)).run.state).toBe("running")
    }).pipe(Effect.provide(TestPlane.layer({ settings: { rateLimit: { perSecond: 1_000, burst: 1_000 } } }))))

  it.live(`lists policy judges entry by entry hold at most ${MAX_REQUEST_ENTRIES}: 100k entries is a 400 naming the list, ${MAX_REQUEST_ENTRIES} is judged`, () =>
    Effect.gen(function*() {
      const p = yield* principals
      const base = encodeRequest(request())
      const env = (patch: Record<string, unknown>) => ({ ...base, execution: { ...base.execution, env: { ...base.execution.env, ...patch } } })
      const many = <A>(n: number, f: (i: number) => A): Array<A> => Array.from({ length: n }, (_, i) => f(i))
      const vars = (n: number) => Object.fromEntries(many(n, (i) => [`V${i}`, "x"] as const))
      const cases: ReadonlyArray<readonly [string, unknown, string, number]> = [
        ["allowHosts", { ...base, network: { ...base.network, allowHosts: many(100_000, (i) => `h${i}.example.com`) } }, "$.network.allowHosts", 100_000],
        ["allowAddresses", { ...base, network: { ...base.network, allowAddresses: many(100_000, (i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`) } }, "$.network.allowAddresses", 100_000],
        ["inherit", env({ inherit: many(100_000, () => "PATH") }), "$.execution.env.inherit", 100_000],
        ["secrets", env({ secrets: many(100_000, (i) => ({ env: `E${i}`, secretName: "NPM_TOKEN" })) }), "$.execution.env.secrets", 100_000],
        ["vars", env({ vars: vars(500_000) }), "$.execution.env.vars", 500_000],
        ["vars, one over", env({ vars: vars(MAX_REQUEST_ENTRIES + 1) }), "$.execution.env.vars", MAX_REQUEST_ENTRIES + 1]
      ]
      for (const [label, body, path, count] of cases) {
        const response = yield* raw(p.url, "POST", "/runs", { token: p.requesterToken, body: json(body) })
        expect(response, label).toEqual({
          status: 400,
          body: refusal("BadRequest", { issues: [{ path, message: `at most ${MAX_REQUEST_ENTRIES} entries, not ${count}; list only what the run needs` }] })
        })
      }
      // At the bound the request is judged and created as usual.
      const atBound = yield* raw(p.url, "POST", "/runs", { token: p.requesterToken, body: json(env({ vars: vars(MAX_REQUEST_ENTRIES) })) })
      expect(atBound.status).toBe(201)
      // Lists that cost nothing per entry are bounded by the body size alone; repeats collapse in the contract.
      const enforce = yield* raw(p.url, "POST", "/runs", { token: p.requesterToken, body: json({ ...base, isolation: { tier: "process", enforce: many(100_000, () => "env") } }) })
      expect(enforce).toMatchObject({ status: 201, body: { contract: { isolation: { tier: "process", enforce: ["env"] } } } })
      expect(yield* raw(p.url, "GET", "/health")).toEqual({ status: 200, body: { status: "ok" } })
      expect((yield* p.admin.runs.list({ urlParams: {} })).length).toBe(2)
    }).pipe(Effect.provide(TestPlane.layer({ policy: policyWith({ enforce: [] }) }))))

  it.live("a 15 MiB string where 256 KiB is allowed is a 400 with a clipped message; over the body limit it is a 413 unread", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const base = encodeRequest(request())
      const huge = "x".repeat(15 * 1024 * 1024)
      const response = yield* raw(p.url, "POST", "/runs", { token: p.requesterToken, body: json({ ...base, task: { prompt: huge } }) })
      expect(response).toEqual(badRequestAt("$.task.prompt"))
      expect(json(response.body).length).toBeLessThan(2 * 20 * 600)
      const over = yield* raw(p.url, "POST", "/runs", { token: p.requesterToken, body: json({ ...base, task: { prompt: `${huge}${"x".repeat(1024 * 1024 + 1)}` } }) })
      expect(over).toEqual({ status: 413, body: refusal("PayloadTooLarge", { limitBytes: 16 * 1024 * 1024 }) })
      expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
    }).pipe(Effect.provide(TestPlane.layer())))

  it.effect("a burst of 300 tiny requests: exactly the bucket's 200 are served, the rest are 429 rate-limit, none a 500; others are served throughout", () =>
    onTestClock({ settings: quietSweeper }, Effect.gen(function*() {
      const p = yield* principals
      const statuses = yield* Effect.forEach(Array.from({ length: 300 }), () => Effect.map(raw(p.url, "GET", "/runs", { token: p.requesterToken }), (r) => r.status), { concurrency: 50 })
      expect(statuses.filter((s) => s === 200)).toHaveLength(200)
      expect(statuses.filter((s) => s === 429)).toHaveLength(100)
      expect(yield* raw(p.url, "GET", "/runs", { token: p.approverToken })).toEqual({ status: 200, body: [] })
      expect(yield* raw(p.url, "GET", "/health")).toEqual({ status: 200, body: { status: "ok" } })
    })))
})

// ---------------------------------------------------------------------------------------------

describe("SQL injection", () => {
  it.live("ids and filters carrying SQL are refused by their patterns (400); SQL in free text is stored and returned verbatim", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const sql = (s: string) => encodeURIComponent(s)
      const inIds: ReadonlyArray<readonly [string, string, string, string | undefined, string]> = [
        ["GET", `/runs/${sql("run-1' OR '1'='1")}`, p.requesterToken, undefined, "$.runId"],
        ["GET", `/runs/${sql("run-1;DROP TABLE runs")}/events`, p.requesterToken, undefined, "$.runId"],
        ["GET", `/runs?requestedBy=${sql("alice' OR 1=1 --")}`, p.adminToken, undefined, "$.requestedBy"],
        ["GET", `/runs?state=${sql("queued' OR '1'='1")}`, p.adminToken, undefined, "$.state"],
        ["GET", `/runs?pool=${sql("default'--")}`, p.adminToken, undefined, "$.pool"],
        ["GET", `/runs?since=${sql("2020-01-01T00:00:00.000Z' OR '1'='1")}`, p.adminToken, undefined, "$.since"],
        ["GET", `/runs?limit=${sql("1; DROP TABLE runs")}`, p.adminToken, undefined, "$.limit"],
        ["GET", `/export?since=${sql("0' OR '1'='1")}`, p.adminToken, undefined, "$.since"],
        ["POST", "/principals", p.adminToken, json({ id: "eve'); DROP TABLE principals;--", kind: "human", role: "admin" }), "$.id"],
        ["PUT", `/secrets/${sql("X' OR '1'='1")}`, p.adminToken, json({ value: "v" }), "$.name"],
        ["GET", `/blobs/${sql("sha256:' OR '1'='1")}`, p.requesterToken, undefined, "$.hash"],
        ["POST", "/enroll-tokens", p.adminToken, json({ pool: "default' OR 1=1" }), "$.pool"]
      ]
      for (const [method, path, token, body, at] of inIds) {
        expect(yield* raw(p.url, method, path, { token, ...(body === undefined ? {} : { body }) }), `${method} ${path}`).toEqual(badRequestAt(at))
      }

      const payloads = {
        prompt: "'); DROP TABLE runs; --",
        script: "'; DELETE FROM events; --",
        variable: "\" OR 1=1 -- ",
        reason: "'); UPDATE runs SET state='completed'; --"
      }
      const created = yield* p.requester.runs.create({
        payload: requestWith({ task: { prompt: payloads.prompt } }, { command: { kind: "shell", shell: "sh", script: payloads.script } }, { vars: { Q: payloads.variable } })
      })
      if (created._tag !== "created") return expect.fail("not created")
      const runId = created.run.runId
      yield* claimOrFail(runner)
      yield* p.requester.runs.cancel({ path: { runId }, payload: { reason: payloads.reason } })
      const detail = yield* p.admin.runs.get({ path: { runId } })
      expect(detail.contract?.task.prompt).toBe(payloads.prompt)
      expect(detail.contract?.execution.command).toEqual({ kind: "shell", shell: "sh", script: payloads.script })
      expect(detail.contract?.execution.env.vars).toEqual({ Q: payloads.variable })
      expect(detail.run.state).toBe("cancelled")
      expect(detail.run.failure).toEqual({ failureClass: "cancelled", message: payloads.reason })
      expect((yield* p.admin.runs.events({ path: { runId } })).at(-1)!.event).toEqual({ type: "run.cancelled", by: { kind: "human", id: "alice" }, reason: payloads.reason })
      // Every table still answers as before.
      expect((yield* p.admin.admin.listPrincipals()).map((x) => x.id)).toEqual(["admin", "alice", "bob"])
      expect((yield* p.admin.admin.listRunners()).map((x) => x.runnerId)).toEqual([runner.runnerId])
      expect((yield* p.admin.runs.list({ urlParams: {} })).map((r) => [r.runId, r.state])).toEqual([[runId, "cancelled"]])
      expect(yield* p.admin.admin.listSecrets()).toEqual([])
      // A principal id using every character the pattern allows is an ordinary, separate principal.
      const odd = yield* principal(p, "o.d_d@x+y:z-1")
      expect(yield* raw(p.url, "GET", "/runs", { token: odd.token })).toEqual({ status: 200, body: [] })
      expect(yield* raw(p.url, "GET", `/runs/${runId}`, { token: odd.token })).toEqual(runNotFound(runId))
    }).pipe(Effect.provide(TestPlane.layer({ policy: policyWith({ enforce: [] }) }))))
})

// ---------------------------------------------------------------------------------------------

describe("races", () => {
  const askPolicy: Policy = { ...samplePolicy, consent: [{ id: "every-command", when: { agents: ["command"] }, decision: "ask" }] }

  it.live("approve racing cancel: every run ends cancelled, with one terminal event when approval won and no chain when cancel did", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const runIds = yield* Effect.forEach(Array.from({ length: 10 }), () => createRun(p))
      const outcomes = yield* Effect.forEach(runIds, (runId) =>
        Effect.all({
          approve: Effect.map(raw(p.url, "POST", `/runs/${runId}/approve`, { token: p.approverToken }), (r) => r.status),
          cancel: Effect.map(raw(p.url, "POST", `/runs/${runId}/cancel`, { token: p.requesterToken, body: "{}" }), (r) => r.status)
        }, { concurrency: 2 }), { concurrency: "unbounded" })
      for (const [i, runId] of runIds.entries()) {
        const { approve, cancel } = outcomes[i]!
        expect(cancel).toBe(200)
        expect([200, 409]).toContain(approve)
        const after = yield* stored(p, runId)
        expect(after.run.state).toBe("cancelled")
        expect(types(after.events)).toEqual(approve === 200 ? ["run.created", "policy.evaluated", "consent.requested", "consent.granted", "run.cancelled"] : [])
      }
      expect(yield* runner.client.runner.claim()).toEqual({ _tag: "empty" })
    }).pipe(Effect.provide(TestPlane.layer({ policy: askPolicy }))))

  it.live("two approvers racing: exactly one approves, the other is 409, and the chain holds one consent.granted", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const dave = yield* principal(p, "dave", "approver")
      const runId = yield* createRun(p)
      const statuses = yield* Effect.all([
        Effect.map(raw(p.url, "POST", `/runs/${runId}/approve`, { token: p.approverToken }), (r) => r.status),
        Effect.map(raw(p.url, "POST", `/runs/${runId}/approve`, { token: dave.token }), (r) => r.status)
      ], { concurrency: 2 })
      expect([...statuses].sort()).toEqual([200, 409])
      const after = yield* stored(p, runId)
      expect(after.run.state).toBe("queued")
      expect(after.events.filter((e) => e.event.type === "consent.granted")).toHaveLength(1)
    }).pipe(Effect.provide(TestPlane.layer({ policy: askPolicy }))))

  it.live("cancel racing claim: every run ends cancelled with exactly one run.cancelled, and every claim token it handed out is spent", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const runIds = yield* Effect.forEach(Array.from({ length: 10 }), () => createRun(p))
      const [claims, cancels] = yield* Effect.all([
        Effect.forEach(runIds, () => runner.client.runner.claim(), { concurrency: "unbounded" }),
        Effect.forEach(runIds, (runId) => Effect.map(raw(p.url, "POST", `/runs/${runId}/cancel`, { token: p.requesterToken, body: "{}" }), (r) => r.status), { concurrency: "unbounded" })
      ], { concurrency: 2 })
      expect(cancels.every((s) => s === 200)).toBe(true)
      const handedOut = claims.flatMap((c) => (c._tag === "claimed" ? [c] : []))
      for (const runId of runIds) {
        const after = yield* stored(p, runId)
        expect(after.run.state).toBe("cancelled")
        expect(terminal(after.events)).toBe(1)
        expect(after.events.at(-1)!.event.type).toBe("run.cancelled")
        const claimed = handedOut.find((c) => c.contract.runId === runId)
        expect(types(after.events)).toEqual(claimed === undefined ? ["run.created", "policy.evaluated", "run.cancelled"] : ["run.created", "policy.evaluated", "run.claimed", "run.cancelled"])
      }
      for (const c of handedOut) expect(yield* raw(p.url, "POST", `/runs/${c.contract.runId}/heartbeat`, { token: Redacted.value(c.claimToken) })).toEqual(spentToken)
      expect(yield* runner.client.runner.claim()).toEqual({ _tag: "empty" })
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("two completes racing, and cancel racing complete: one outcome wins, the chain keeps one terminal event, the claim token dies", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const raced = yield* claimedRun(p, runner)
      yield* raced.claim.runner.postEvents({ path: { runId: raced.runId }, payload: { entries: raced.side.fresh } })
      const twice = yield* Effect.all([completeRaw(p, raced.token, raced.runId, raced.side.receipt), completeRaw(p, raced.token, raced.runId, raced.side.receipt)], { concurrency: 2 })
      const won = twice.filter((r) => r.status === 200)
      expect(won).toHaveLength(1)
      const lost = twice.find((r) => r.status !== 200)!
      expect([spentToken, { status: 409, body: refusal("Conflict", { resource: "run", id: raced.runId, state: "completed" }) }]).toContainEqual(lost)
      const after = yield* stored(p, raced.runId)
      expect(after.run.state).toBe("completed")
      expect(after.events).toEqual(raced.side.entries)

      const other = yield* claimedRun(p, runner)
      yield* other.claim.runner.postEvents({ path: { runId: other.runId }, payload: { entries: other.side.fresh } })
      const [complete, cancel] = yield* Effect.all([
        completeRaw(p, other.token, other.runId, other.side.receipt),
        raw(p.url, "POST", `/runs/${other.runId}/cancel`, { token: p.requesterToken, body: "{}" })
      ], { concurrency: 2 })
      const end = yield* stored(p, other.runId)
      if (complete.status === 200) {
        expect(cancel).toEqual({ status: 409, body: refusal("Conflict", { resource: "run", id: other.runId, state: "completed" }) })
        expect(end.run.state).toBe("completed")
      } else {
        expect(cancel.status).toBe(200)
        expect([spentToken, { status: 409, body: refusal("Conflict", { resource: "run", id: other.runId, state: "cancelled" }) }]).toContainEqual(complete)
        expect(end.run.state).toBe("cancelled")
      }
      // The runner's run.completed was already the chain's end: cancel appends no second terminal event.
      expect(end.events).toEqual(other.side.entries)
      expect(yield* raw(p.url, "POST", `/runs/${other.runId}/heartbeat`, { token: other.token })).toEqual(spentToken)
    }).pipe(Effect.provide(TestPlane.layer())))

  it.effect("complete racing the lease sweeper after the lease ran out: completed or runner-lost, never both, never still running", () =>
    onTestClock({ settings: quietSweeper }, Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const results = yield* Effect.forEach(Array.from({ length: 6 }), () =>
        Effect.gen(function*() {
          const run = yield* claimedRun(p, runner)
          yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh } })
          return run
        }))
      yield* TestClock.adjust(Duration.seconds(31))
      const [completes, swept] = yield* Effect.all([
        Effect.forEach(results, (run) => completeRaw(p, run.token, run.runId, run.side.receipt), { concurrency: "unbounded" }),
        sweep
      ], { concurrency: 2 })
      expect(completes.filter((c) => c.status === 200).length + swept).toBe(results.length)
      for (const [i, run] of results.entries()) {
        const after = yield* stored(p, run.runId)
        const detail = yield* p.admin.runs.get({ path: { runId: run.runId } })
        if (completes[i]!.status === 200) {
          expect(after.run.state).toBe("completed")
          expect(detail.receipt?.signatures.map((s) => s.role)).toEqual(["runner", "plane"])
        } else {
          expect([spentToken, { status: 409, body: refusal("Conflict", { resource: "run", id: run.runId, state: "failed" }) }]).toContainEqual(completes[i])
          expect(after.run.state).toBe("failed")
          expect(after.run.failure?.failureClass).toBe("runner-lost")
          expect(detail.receipt).toBeUndefined()
        }
        expect(after.events).toEqual(run.side.entries)
        expect(yield* raw(p.url, "POST", `/runs/${run.runId}/heartbeat`, { token: run.token })).toEqual(spentToken)
      }
      expect(yield* sweep).toBe(0)
    })))
})
