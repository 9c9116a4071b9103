/**
 * Claims, event ingest, claim-token binding, completion, leases and secrets released at claim:
 * each test starts its own plane on loopback (real HTTP, real SQLite) and drives it with the
 * typed client, `raw(...)` where the exact status or an unsendable body is the point. The
 * lease and secret tests run on the TestClock: the plane is built inside the test's runtime.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Redacted, Schema, TestClock } from "effect"
import { make as makeChain } from "../../src/chain/EventChain.js"
import { link } from "../../src/chain/Link.js"
import { MAX_BATCH } from "../../src/plane/ApiModel.js"
import { sweep } from "../../src/plane/Leases.js"
import { aggregateNetwork } from "../../src/plane/NetworkAggregation.js"
import type { ChainEntry, RunEvent } from "../../src/protocol/Event.js"
import { sha256, type Sha256 } from "../../src/protocol/Hash.js"
import { EnvName, millisOf, PoolName, type RunId, RunnerId, SecretName, timestampOf } from "../../src/protocol/Ids.js"
import { Receipt } from "../../src/protocol/Receipt.js"
import * as Signer from "../../src/crypto/Signer.js"
import { signReceipt } from "../../src/receipt/ReceiptBuilder.js"
import { verifyBundle } from "../../src/receipt/Verify.js"
import { samplePolicy } from "../../src/testkit/SampleRun.js"
import * as TestPlane from "../../src/testkit/TestPlane.js"
import {
  claimClient,
  claimOrFail,
  type EnrolledRunner,
  enrollRunner,
  freshSigner,
  type Principals,
  principals,
  raw,
  request,
  runnerEvents,
  runnerSide
} from "./support/PlaneKit.js"
import { claimedRun, completeRaw, createRunView, heartbeatRaw, onTestClock, postEventsRaw, putBlobRaw, refusal, relink, stored, types } from "./support/RunKit.js"

/** Creates a run the policy allows outright; its id. */
const createRun = (p: Principals, overrides: Parameters<typeof request>[0] = {}) =>
  Effect.map(createRunView(p, overrides), (run) => {
    expect(run.state).toBe("queued")
    return run.runId
  })

// ---------------------------------------------------------------------------------------------
// Helpers of this file

const DEPLOY_TOKEN = Schema.decodeSync(SecretName)("DEPLOY_TOKEN")
const MISSING_TOKEN = Schema.decodeSync(SecretName)("MISSING_TOKEN")
const LEASE_MS = 30_000

const secretsPolicy = { ...samplePolicy, releasableSecrets: [DEPLOY_TOKEN, MISSING_TOKEN] }

const withSecret = (name: SecretName) =>
  request({
    execution: {
      ...request().execution,
      env: { ...request().execution.env, secrets: [{ env: Schema.decodeSync(EnvName)(name), secretName: name }] }
    }
  })

// ---------------------------------------------------------------------------------------------

describe("claims under concurrency", () => {
  it.live("20 runners draining 50 queued runs claim each exactly once; a runner of another pool claims none", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runIds = yield* Effect.forEach(Array.from({ length: 50 }), () => createRun(p), { concurrency: 5 })
      expect(new Set(runIds).size).toBe(50)
      const runners = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => `runner-${String(i + 1).padStart(2, "0")}`), (name) => enrollRunner(p, name), {
        concurrency: 5
      })
      const outsider = yield* enrollRunner(p, "gpu-runner", Schema.decodeSync(PoolName)("gpu"))

      const drain = (runner: EnrolledRunner) =>
        Effect.gen(function*() {
          const got: Array<RunId> = []
          while (true) {
            const answer = yield* runner.client.runner.claim()
            if (answer._tag === "empty") return { runner: runner.runnerId, got }
            expect(answer.contract.runner.pool).toBe("default")
            got.push(answer.contract.runId)
          }
        })
      const results = yield* Effect.all([...runners, outsider].map(drain), { concurrency: "unbounded" })

      const outsiders = results.at(-1)!
      expect(outsiders).toEqual({ runner: "gpu-runner", got: [] })
      const claimedIds = results.flatMap((r) => r.got)
      expect(claimedIds).toHaveLength(50)
      expect(new Set(claimedIds).size).toBe(50)
      expect([...claimedIds].sort()).toEqual([...runIds].sort())

      const owner = new Map(results.flatMap((r) => r.got.map((runId) => [runId, r.runner] as const)))
      const views = yield* Effect.forEach(runIds, (runId) => stored(p, runId), { concurrency: 10 })
      for (const [i, { run, events }] of views.entries()) {
        const claims = events.filter((e) => e.event.type === "run.claimed")
        expect(claims.map((e) => e.event)).toEqual([
          expect.objectContaining({ type: "run.claimed", runnerId: owner.get(runIds[i]!), pool: "default" })
        ])
        expect(types(events)).toEqual(["run.created", "policy.evaluated", "run.claimed"])
        expect(run.state).toBe("running")
        expect(run.runnerId).toBe(owner.get(runIds[i]!))
      }
      // Nothing is left to claim, for anyone.
      expect((yield* runners[0]!.client.runner.claim())._tag).toBe("empty")
      expect((yield* outsider.client.runner.claim())._tag).toBe("empty")
    }).pipe(Effect.provide(TestPlane.layer())))
})

describe("event ingest", () => {
  /** Posts a refused batch and checks that nothing of it was stored. */
  const refused = (p: Principals, runId: RunId, token: string, entries: ReadonlyArray<ChainEntry>, countBefore: number) =>
    Effect.gen(function*() {
      const response = yield* postEventsRaw(p, token, runId, entries)
      const after = yield* stored(p, runId)
      expect(after.events).toHaveLength(countBefore)
      expect(after.run.eventCount).toBe(countBefore)
      return response
    })

  it.live("refuses a broken link, a bad hash, a seq gap and time going backwards, storing nothing of the batch", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const { runId, claimed, side, token } = yield* claimedRun(p, runner)
      const base = claimed.entries.length
      const head = claimed.entries.at(-1)!
      const fresh = side.fresh
      const chainRejected = (index: number, kind: string) => ({ status: 409, body: refusal("ChainRejected", { runId, index, kind }) })

      // A broken link: the second entry links to something other than the first one's hash.
      const wrongPrev = [fresh[0]!, link(sha256("not the previous entry"), fresh[1]!.seq, fresh[1]!.ts, fresh[1]!.event), ...fresh.slice(2)]
      expect(yield* refused(p, runId, token, wrongPrev, base)).toEqual(chainRejected(1, "prevHash"))

      // A tampered event: the command's exit code changed after hashing.
      const tampered = fresh.map((e, i) => (i === 2 ? { ...e, event: { ...e.event, exitCode: 1 } as RunEvent } : e))
      expect(yield* refused(p, runId, token, tampered, base)).toEqual(chainRejected(2, "hash"))

      // A seq gap inside the batch, and a batch that starts past the plane's head.
      const gap = [fresh[0]!, link(fresh[0]!.hash, fresh[0]!.seq + 2, fresh[1]!.ts, fresh[1]!.event)]
      expect(yield* refused(p, runId, token, gap, base)).toEqual(chainRejected(1, "seq"))
      expect(yield* refused(p, runId, token, fresh.slice(1), base)).toEqual(chainRejected(0, "seq"))

      // Time going backwards: the first runner entry is earlier than the plane's claim entry.
      const earlier = timestampOf(millisOf(head.ts) - 1000)
      const backwards = relink(head, side.fresh.map((e) => e.event), earlier)
      expect(yield* refused(p, runId, token, backwards, base)).toEqual(chainRejected(0, "ts"))

      // The untouched batch is then accepted whole.
      const accepted = yield* postEventsRaw(p, token, runId, fresh)
      expect(accepted.status).toBe(200)
      expect(accepted.body).toMatchObject({ stored: fresh.length, count: base + fresh.length, head: fresh.at(-1)!.hash })
      const after = yield* stored(p, runId)
      expect(after.events).toEqual(side.entries)
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("takes a re-posted batch idempotently and an overlapping one for its new part only; a differing overlap is a conflict", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const { runId, claimed, side, claim, token } = yield* claimedRun(p, runner)
      const base = claimed.entries.length
      const fresh = side.fresh

      const first = yield* claim.runner.postEvents({ path: { runId }, payload: { entries: fresh.slice(0, 2) } })
      expect(first).toMatchObject({ stored: 2, count: base + 2, head: fresh[1]!.hash })

      // The same batch again: nothing new, same head and count.
      const again = yield* postEventsRaw(p, token, runId, fresh.slice(0, 2))
      expect(again.status).toBe(200)
      expect(again.body).toMatchObject({ stored: 0, count: base + 2, head: fresh[1]!.hash })
      // The plane's own entries re-posted with the runner's: still nothing new.
      const fromGenesis = yield* claim.runner.postEvents({ path: { runId }, payload: { entries: side.entries.slice(0, base + 2) } })
      expect(fromGenesis).toMatchObject({ stored: 0, count: base + 2, head: fresh[1]!.hash })

      // An overlap whose second entry differs from the stored one.
      const differing = [fresh[0]!, ...relink(fresh[0]!, [{ type: "command.executed", argvHash: sha256("rm -rf /"), exitCode: 0 }, fresh[2]!.event])]
      const conflict = yield* postEventsRaw(p, token, runId, differing)
      expect(conflict).toEqual({ status: 409, body: refusal("ChainRejected", { runId, index: 1, kind: "conflict" }) })
      expect((yield* stored(p, runId)).events).toEqual(side.entries.slice(0, base + 2))

      // Overlap, then continue: only the continuation is stored.
      const rest = yield* claim.runner.postEvents({ path: { runId }, payload: { entries: fresh.slice(1) } })
      expect(rest).toMatchObject({ stored: fresh.length - 2, count: base + fresh.length, head: fresh.at(-1)!.hash })
      expect((yield* stored(p, runId)).events).toEqual(side.entries)

      // Nothing may follow the terminal event.
      const late = relink(fresh.at(-1)!, [{ type: "command.executed", argvHash: sha256("late"), exitCode: 0 }])
      const afterEnd = yield* postEventsRaw(p, token, runId, late)
      expect(afterEnd).toEqual({ status: 409, body: refusal("ChainRejected", { runId, index: 0, kind: "afterTerminal" }) })
      expect((yield* stored(p, runId)).events).toEqual(side.entries)
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("refuses every event only the plane writes", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const { runId, claimed, side, token } = yield* claimedRun(p, runner)
      const head = claimed.entries.at(-1)!
      const materialized = side.fresh[0]!.event
      const forged: ReadonlyArray<RunEvent> = [
        { type: "secret.released", name: DEPLOY_TOKEN, scope: `run:${runId}` },
        { type: "consent.granted", by: { kind: "human", id: "mallory" } },
        { type: "run.claimed", runnerId: runner.runnerId, keyId: runner.signer.keyId, pool: claimed.contract.runner.pool },
        { type: "run.cancelled", reason: "forged" },
        { type: "run.created", runId, requestedBy: { kind: "human", id: "mallory" } },
        { type: "policy.evaluated", policyHash: claimed.contract.policyHash, decision: "allow", reasons: [] },
        { type: "consent.requested", rules: ["r"], reason: "forged" }
      ]
      for (const event of forged) {
        const response = yield* refused(p, runId, token, relink(head, [materialized, event]), claimed.entries.length)
        expect({ type: event.type, ...response }).toEqual({ type: event.type, status: 409, body: refusal("ChainRejected", { runId, index: 1, kind: "plane-only" }) })
      }
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("refuses repeated network decisions in one batch, and takes them folded into one event with a count", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const { runId, claimed, side, claim, token } = yield* claimedRun(p, runner)
      const head = claimed.entries.at(-1)!
      const net: RunEvent = { type: "network.connected", host: "registry.npmjs.org", port: 443, decision: "allowed", reason: "allowlisted" }
      const events = [side.fresh[0]!.event, net, net]

      const response = yield* refused(p, runId, token, relink(head, events), claimed.entries.length)
      expect(response).toEqual({ status: 409, body: refusal("ChainRejected", { runId, index: 2, kind: "unaggregated" }) })

      const folded = aggregateNetwork(events)
      expect(folded).toEqual([events[0], { ...net, count: 2 }])
      const accepted = yield* claim.runner.postEvents({ path: { runId }, payload: { entries: relink(head, folded) } })
      expect(accepted.stored).toBe(2)
      const after = yield* stored(p, runId)
      expect(after.events.at(-1)!.event).toEqual({ ...net, count: 2 })
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live(`refuses a batch of more than ${MAX_BATCH} entries with 400`, () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const { runId, claimed, token } = yield* claimedRun(p, runner)
      const many = Array.from({ length: MAX_BATCH + 1 }, (_, i): RunEvent => ({
        type: "network.connected",
        host: `host-${i}.example.com`,
        port: 443,
        decision: "blocked",
        reason: "not in allowHosts"
      }))
      const chain = yield* makeChain(claimed.entries[0]!.prevHash, claimed.entries)
      for (const event of many) yield* chain.append(event)
      const entries = (yield* chain.entries).slice(claimed.entries.length)
      expect(entries).toHaveLength(MAX_BATCH + 1)

      const response = yield* refused(p, runId, token, entries, claimed.entries.length)
      expect(response).toEqual({
        status: 400,
        body: refusal("BadRequest", { issues: [{ path: "$.entries", message: expect.stringMatching(/^Expected an array of at most 1000 item\(s\)/) }] })
      })

      // The same entries in two batches are within the limit.
      const first = yield* postEventsRaw(p, token, runId, entries.slice(0, MAX_BATCH))
      expect(first.status).toBe(200)
      expect(first.body).toMatchObject({ stored: MAX_BATCH, count: claimed.entries.length + MAX_BATCH })
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("refuses a batch that would take the run past maxEventsPerRun with 413", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const { runId, claimed, side, claim, token } = yield* claimedRun(p, runner)
      const base = claimed.entries.length
      expect(base).toBe(3)

      const tooMany = yield* refused(p, runId, token, side.fresh, base)
      expect(tooMany).toEqual({ status: 413, body: refusal("PayloadTooLarge", { limitBytes: 6 }) })

      // Exactly up to the limit is fine; one more is not.
      const upTo = yield* claim.runner.postEvents({ path: { runId }, payload: { entries: side.fresh.slice(0, 3) } })
      expect(upTo).toMatchObject({ stored: 3, count: 6 })
      const over = yield* refused(p, runId, token, side.fresh.slice(3, 4), 6)
      expect(over).toEqual({ status: 413, body: refusal("PayloadTooLarge", { limitBytes: 6 }) })
    }).pipe(Effect.provide(TestPlane.layer({ settings: { maxEventsPerRun: 6 } }))))
})

describe("claim token binding", () => {
  it.live("a claim token acts on its own run only, and a runner token on no run's events", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const a = yield* claimedRun(p, runner)
      const b = yield* claimedRun(p, runner)
      const forbidden = (runId: RunId, caller: string) => ({
        status: 403,
        body: refusal("Forbidden", { caller, allowed: [`the claim token of run ${runId}`] })
      })
      const aOnB = `claim token of run ${a.runId}`

      expect(yield* postEventsRaw(p, a.token, b.runId, b.side.fresh)).toEqual(forbidden(b.runId, aOnB))
      expect(yield* heartbeatRaw(p, a.token, b.runId)).toEqual(forbidden(b.runId, aOnB))
      expect(yield* completeRaw(p, a.token, b.runId, b.side.receipt)).toEqual(forbidden(b.runId, aOnB))

      expect(yield* postEventsRaw(p, runner.token, a.runId, a.side.fresh)).toEqual(forbidden(a.runId, `runner ${runner.runnerId}`))
      expect(yield* heartbeatRaw(p, runner.token, a.runId)).toEqual(forbidden(a.runId, `runner ${runner.runnerId}`))
      expect(yield* postEventsRaw(p, p.adminToken, a.runId, a.side.fresh)).toEqual(forbidden(a.runId, "principal admin (admin)"))

      // Nothing moved: both runs hold only the plane's entries.
      expect((yield* stored(p, a.runId)).events).toEqual(a.claimed.entries)
      expect((yield* stored(p, b.runId)).events).toEqual(b.claimed.entries)
      // And each token still works on its own run.
      expect((yield* postEventsRaw(p, b.token, b.runId, b.side.fresh)).status).toBe(200)
    }).pipe(Effect.provide(TestPlane.layer())))

  const spent = { status: 401, body: refusal("Unauthorized", { reason: "spent" }) }

  /** Every endpoint a claim token opens, tried with `token`. */
  const everyEndpoint = (p: Principals, token: string, run: { runId: RunId; side: { fresh: ReadonlyArray<ChainEntry>; receipt: Receipt } }) =>
    Effect.all({
      events: postEventsRaw(p, token, run.runId, run.side.fresh),
      heartbeat: heartbeatRaw(p, token, run.runId),
      complete: completeRaw(p, token, run.runId, run.side.receipt),
      blob: putBlobRaw(p, token, new TextEncoder().encode("a log line\n"))
    })

  it.live("after completion the claim token is spent for every endpoint", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      // While the run is live the token uploads blobs.
      const upload = yield* putBlobRaw(p, run.token, new TextEncoder().encode("a log line\n"))
      expect(upload).toMatchObject({ status: 200, body: { created: true } })

      yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh } })
      const completed = yield* run.claim.runner.complete({ path: { runId: run.runId }, payload: { receipt: run.side.receipt } })
      expect(completed.run.state).toBe("completed")

      expect(yield* everyEndpoint(p, run.token, run)).toEqual({ events: spent, heartbeat: spent, complete: spent, blob: spent })
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("after cancellation the claim token is spent for every endpoint", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh.slice(0, 2) } })

      const cancelled = yield* p.requester.runs.cancel({ path: { runId: run.runId }, payload: { reason: "no longer needed" } })
      expect(cancelled.state).toBe("cancelled")
      expect(cancelled.failure).toEqual({ failureClass: "cancelled", message: "no longer needed" })

      expect(yield* everyEndpoint(p, run.token, run)).toEqual({ events: spent, heartbeat: spent, complete: spent, blob: spent })
      const after = yield* stored(p, run.runId)
      expect(types(after.events)).toEqual([...types(run.claimed.entries), "workspace.materialized", "sandbox.attested", "run.cancelled"])
      expect(after.events.at(-1)!.event).toEqual({ type: "run.cancelled", by: { kind: "human", id: "alice" }, reason: "no longer needed" })
    }).pipe(Effect.provide(TestPlane.layer())))
})

describe("completion", () => {
  const rejected = (status: number) => expect.objectContaining({ status, body: expect.objectContaining({ error: "ReceiptRejected" }) })
  const problemsOf = (body: unknown) => (body as { details: { problems: ReadonlyArray<{ where: string; code: string; message: string }> } }).details.problems

  it.live("refuses a receipt signed with a key other than the runner's enrolled key; the run stays running", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh } })

      const stranger = freshSigner()
      const forged = yield* signReceipt({
        contract: run.side.verified,
        entries: run.side.entries,
        runner: { runnerId: runner.runnerId, pool: run.claimed.contract.runner.pool, isolation: "process" }
      }).pipe(Effect.provideService(Signer.Signer, stranger))
      const response = yield* completeRaw(p, run.token, run.runId, forged)
      expect(response).toEqual(rejected(422))
      expect(response.body).toMatchObject({ details: { runId: run.runId } })
      expect(problemsOf(response.body)).toEqual([
        { where: "$.receipt.signatures[0]", code: "trust.untrusted-key", message: `signed (runner) by ${stranger.keyId}, which is not a trusted key` },
        { where: "$.receipt.signatures[0]", code: "key.missing", message: `the bundle carries no public key for ${stranger.keyId}` },
        {
          where: "$.events[2]",
          code: "receipt.runner-mismatch",
          message: `run.claimed names runner runner-a (${runner.signer.keyId}, pool default); the receipt names runner-a (${stranger.keyId}, pool default)`
        }
      ])
      expect((yield* stored(p, run.runId)).run.state).toBe("running")

      // The refusal spent nothing: the honest receipt still completes the run.
      const completed = yield* run.claim.runner.complete({ path: { runId: run.runId }, payload: { receipt: run.side.receipt } })
      expect(completed.run.state).toBe("completed")
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("refuses a receipt naming another runner", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh } })
      const other = Schema.decodeSync(RunnerId)("runner-b")
      const misnamed = yield* signReceipt({
        contract: run.side.verified,
        entries: run.side.entries,
        runner: { runnerId: other, pool: run.claimed.contract.runner.pool, isolation: "process" }
      }).pipe(Effect.provideService(Signer.Signer, runner.signer))
      const response = yield* completeRaw(p, run.token, run.runId, misnamed)
      expect(response).toEqual(rejected(422))
      expect(problemsOf(response.body)).toContainEqual({
        where: "$.receipt.runner",
        code: "receipt.runner-mismatch",
        message: `the receipt names runner runner-b in pool default; this claim belongs to runner-a in default`
      })
      expect((yield* stored(p, run.runId)).run.state).toBe("running")
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("refuses to complete before the chain holds its terminal event", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh.slice(0, -1) } })
      const response = yield* completeRaw(p, run.token, run.runId, run.side.receipt)
      expect(response).toEqual({ status: 409, body: refusal("Conflict", { resource: "run", id: run.runId, state: "running" }) })
      expect((yield* stored(p, run.runId)).run.state).toBe("running")
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("refuses a tampered receipt (event count, status)", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh } })
      const receipt = run.side.receipt

      const miscounted = yield* completeRaw(p, run.token, run.runId, { ...receipt, eventCount: receipt.eventCount + 1 })
      expect(miscounted).toEqual(rejected(422))
      expect(problemsOf(miscounted.body)).toEqual([
        { where: "$.receipt.signatures[0]", code: "receipt.signature-invalid", message: expect.stringContaining(`signature by ${runner.signer.keyId} (runner) is invalid`) },
        { where: "$.receipt.eventCount", code: "receipt.count-mismatch", message: `the receipt counts ${receipt.eventCount + 1} events; the bundle has ${receipt.eventCount}` }
      ])

      const restated = yield* completeRaw(p, run.token, run.runId, { ...receipt, status: "failed" })
      expect(restated).toEqual(rejected(422))
      expect(problemsOf(restated.body)).toContainEqual({
        where: "$.receipt.status",
        code: "receipt.summary-mismatch",
        message: `the receipt says "failed"; the events say "completed"`
      })
      expect(problemsOf(restated.body).map((x) => x.code)).toContain("receipt.signature-invalid")
      expect((yield* stored(p, run.runId)).run.state).toBe("running")
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("countersigns the receipt, refuses a second completion, and the bundle verifies offline", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh } })
      const completed = yield* run.claim.runner.complete({ path: { runId: run.runId }, payload: { receipt: run.side.receipt } })
      expect(completed.run.state).toBe("completed")
      expect(completed.run.failure).toBeUndefined()
      expect(completed.receipt.signatures.map((s) => [s.role, s.keyId])).toEqual([["runner", runner.signer.keyId], ["plane", p.planeKey.keyId]])
      expect({ ...completed.receipt, signatures: completed.receipt.signatures.slice(0, 1) }).toEqual(run.side.receipt)

      expect(yield* completeRaw(p, run.token, run.runId, run.side.receipt)).toEqual({ status: 401, body: refusal("Unauthorized", { reason: "spent" }) })

      const bundle = yield* p.requester.runs.bundle({ path: { runId: run.runId } })
      expect(bundle.receipt).toEqual(completed.receipt)
      const verdict = verifyBundle(JSON.parse(JSON.stringify(bundle)), {
        trustedKeys: [
          { keyId: p.planeKey.keyId, publicKey: p.planeKey.publicKey, roles: ["issuer", "plane"] },
          { keyId: runner.signer.keyId, publicKey: runner.signer.publicKey, roles: ["runner"] }
        ]
      })
      expect(verdict).toEqual({
        valid: true,
        problems: [],
        signers: { contract: p.planeKey.keyId, receipt: runner.signer.keyId, countersignature: p.planeKey.keyId },
        trustChecked: true
      })
    }).pipe(Effect.provide(TestPlane.layer())))

  it.live("a run the runner ends with run.failed completes as failed, with its failure class", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const failing = (manifestHash: Sha256): ReadonlyArray<RunEvent> => [
        ...runnerEvents(manifestHash).slice(0, 2),
        { type: "command.executed", argvHash: sha256("sh\0-c\0npm test"), exitCode: 1, durationMs: 7 },
        { type: "run.failed", failureClass: "agent", message: "npm test exited with 1" }
      ]
      const run = yield* claimedRun(p, runner, failing)
      yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh } })
      const completed = yield* run.claim.runner.complete({ path: { runId: run.runId }, payload: { receipt: run.side.receipt } })
      expect(completed.run.state).toBe("failed")
      expect(completed.run.failure).toEqual({ failureClass: "agent", message: "npm test exited with 1" })
      expect(completed.receipt.status).toBe("failed")
      expect((yield* stored(p, run.runId)).run).toMatchObject({ state: "failed", failure: { failureClass: "agent", message: "npm test exited with 1" } })

      const bundle = yield* p.admin.runs.bundle({ path: { runId: run.runId } })
      const verdict = verifyBundle(JSON.parse(JSON.stringify(bundle)), {
        trustedKeys: [{ keyId: p.planeKey.keyId, roles: ["issuer", "plane"] }, { keyId: runner.signer.keyId, roles: ["runner"] }]
      })
      expect(verdict.problems).toEqual([])
    }).pipe(Effect.provide(TestPlane.layer())))
})

describe("leases", () => {
  it.effect("heartbeats and event batches renew the lease", () =>
    onTestClock({}, Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      expect(run.claimed.leaseExpiresAt).toBe(timestampOf(start + LEASE_MS))
      expect((yield* stored(p, run.runId)).run.leaseExpiresAt).toBe(timestampOf(start + LEASE_MS))

      yield* TestClock.adjust("10 seconds")
      const renewed = yield* run.claim.runner.heartbeat({ path: { runId: run.runId } })
      expect(renewed.leaseExpiresAt).toBe(timestampOf(start + 10_000 + LEASE_MS))
      expect((yield* stored(p, run.runId)).run.leaseExpiresAt).toBe(renewed.leaseExpiresAt)

      yield* TestClock.adjust("5 seconds")
      const posted = yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh.slice(0, 1) } })
      expect(posted.leaseExpiresAt).toBe(timestampOf(start + 15_000 + LEASE_MS))

      // A sweep just before the lease ends leaves the run alone.
      yield* TestClock.adjust(LEASE_MS - 1)
      expect(yield* sweep).toBe(0)
      expect((yield* stored(p, run.runId)).run.state).toBe("running")
    })))

  it.effect("a run whose lease expires is failed once, as runner-lost, and its claim token dies", () =>
    onTestClock({}, Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh.slice(0, 2) } })

      yield* TestClock.adjust(LEASE_MS + 1)
      // The background sweeper runs too; together they fail the run exactly once.
      const counts = yield* Effect.all([sweep, sweep, sweep], { concurrency: "unbounded" })
      expect(counts.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1)
      expect(yield* sweep).toBe(0)

      const after = yield* stored(p, run.runId)
      expect(after.run.state).toBe("failed")
      expect(after.run.failure?.failureClass).toBe("runner-lost")
      expect(after.run.failure?.message).toContain(`runner ${runner.runnerId} was lost`)
      expect(after.run.leaseExpiresAt).toBeUndefined()
      const failures = after.events.filter((e) => e.event.type === "run.failed")
      expect(failures).toHaveLength(1)
      expect(after.events).toHaveLength(run.claimed.entries.length + 3)
      expect(after.events.at(-1)!.event).toEqual({ type: "run.failed", failureClass: "runner-lost", message: after.run.failure!.message })

      const spent = { status: 401, body: refusal("Unauthorized", { reason: "spent" }) }
      expect(yield* heartbeatRaw(p, run.token, run.runId)).toEqual(spent)
      expect(yield* postEventsRaw(p, run.token, run.runId, run.side.fresh.slice(2))).toEqual(spent)
    })))

  it.effect("a runner whose upload fails is not left running: its lease expires and the run fails", () =>
    onTestClock({}, Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      const broken = run.side.fresh.map((e, i) => (i === 0 ? { ...e, hash: sha256("nope") } : e))
      // A refused batch does not renew the lease: it still ends 30 s after the claim.
      yield* TestClock.adjust("10 seconds")
      expect((yield* postEventsRaw(p, run.token, run.runId, broken)).status).toBe(409)

      yield* TestClock.adjust(LEASE_MS - 10_000 + 1)
      yield* sweep
      const after = yield* stored(p, run.runId)
      expect(after.run).toMatchObject({ state: "failed", failure: { failureClass: "runner-lost" } })
      expect(types(after.events)).toEqual([...types(run.claimed.entries), "run.failed"])
      expect((yield* heartbeatRaw(p, run.token, run.runId)).status).toBe(401)
    })))

  it.effect("a runner whose completion fails is not left running: its lease expires and the run fails", () =>
    onTestClock({}, Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const run = yield* claimedRun(p, runner)
      yield* run.claim.runner.postEvents({ path: { runId: run.runId }, payload: { entries: run.side.fresh } })
      // A refused completion does not renew the lease: it still ends 30 s after the last batch.
      yield* TestClock.adjust("10 seconds")
      const refusedCompletion = yield* completeRaw(p, run.token, run.runId, { ...run.side.receipt, eventCount: 1 })
      expect(refusedCompletion.status).toBe(422)

      yield* TestClock.adjust(LEASE_MS - 10_000 + 1)
      yield* sweep
      const after = yield* stored(p, run.runId)
      expect(after.run).toMatchObject({ state: "failed", failure: { failureClass: "runner-lost" } })
      // The runner's terminal event closed the chain; the plane appends nothing after it.
      expect(after.events).toEqual(run.side.entries)
      expect(yield* completeRaw(p, run.token, run.runId, run.side.receipt)).toMatchObject({ status: 401, body: { details: { reason: "spent" } } })
      const detail = yield* p.admin.runs.get({ path: { runId: run.runId } })
      expect(detail.receipt).toBeUndefined()
    })))
})

describe("secrets released at claim", () => {
  it.effect("a stored, releasable secret travels in the claim response and is recorded by name and scope only", () =>
    onTestClock({ policy: secretsPolicy }, Effect.gen(function*() {
      const p = yield* principals
      const value = "dpl_9f8e7d6c5b4a-the-deploy-token"
      const put = yield* p.admin.admin.putSecret({ path: { name: DEPLOY_TOKEN }, payload: { value: Redacted.make(value) } })
      expect(put.name).toBe("DEPLOY_TOKEN")
      const runId = yield* createRun(p, withSecret(DEPLOY_TOKEN))
      const runner = yield* enrollRunner(p, "runner-a")

      const claimed = yield* claimOrFail(runner)
      expect(claimed.contract.runId).toBe(runId)
      expect(claimed.contract.secrets).toEqual([{ name: "DEPLOY_TOKEN", scope: `run:${runId}` }])
      expect(claimed.secrets.map((s) => ({ name: s.name, value: Redacted.value(s.value) }))).toEqual([{ name: "DEPLOY_TOKEN", value }])
      expect(types(claimed.entries)).toEqual(["run.created", "policy.evaluated", "run.claimed", "secret.released"])
      expect(claimed.entries.at(-1)!.event).toEqual({ type: "secret.released", name: "DEPLOY_TOKEN", scope: `run:${runId}` })

      // The run goes on to completion; nothing the plane shows or bundles holds the value.
      const side = yield* runnerSide(p, runner, claimed)
      const claim = yield* claimClient(p, claimed)
      yield* claim.runner.postEvents({ path: { runId }, payload: { entries: side.fresh } })
      const completed = yield* claim.runner.complete({ path: { runId }, payload: { receipt: side.receipt } })
      expect(completed.receipt.secretsReleased).toEqual([{ name: "DEPLOY_TOKEN", scope: `run:${runId}`, ts: claimed.entries.at(-1)!.ts }])
      const shown = yield* Effect.all([
        raw(p.url, "GET", `/runs/${runId}/events`, { token: p.adminToken }),
        raw(p.url, "GET", `/runs/${runId}`, { token: p.adminToken }),
        raw(p.url, "GET", `/runs/${runId}/bundle`, { token: p.adminToken }),
        raw(p.url, "GET", "/secrets", { token: p.adminToken }),
        raw(p.url, "GET", "/export", { token: p.adminToken })
      ])
      for (const response of shown) {
        expect(response.status).toBe(200)
        expect(JSON.stringify(response.body)).not.toContain(value)
      }
    })))

  it.effect("a run whose secret is not stored is failed at claim, and the claimer gets the next run, then nothing", () =>
    onTestClock({ policy: secretsPolicy }, Effect.gen(function*() {
      const p = yield* principals
      const doomed = yield* createRun(p, withSecret(MISSING_TOKEN))
      yield* TestClock.adjust(1)
      const plain = yield* createRun(p)
      yield* TestClock.adjust(1)
      const doomedToo = yield* createRun(p, withSecret(MISSING_TOKEN))
      const runner = yield* enrollRunner(p, "runner-a")

      const first = yield* runner.client.runner.claim()
      expect(first._tag === "claimed" ? first.contract.runId : first._tag).toBe(plain)
      expect(first._tag === "claimed" ? first.secrets : undefined).toEqual([])
      const second = yield* runner.client.runner.claim()
      expect(second._tag).toBe("empty")

      for (const runId of [doomed, doomedToo]) {
        const after = yield* stored(p, runId)
        expect(after.run.state).toBe("failed")
        expect(after.run.failure?.failureClass).toBe("policy")
        expect(after.run.failure?.message).toContain("MISSING_TOKEN")
        expect(types(after.events)).toEqual(["run.created", "policy.evaluated", "run.failed"])
        expect(after.events.at(-1)!.event).toEqual({ type: "run.failed", failureClass: "policy", message: after.run.failure!.message })
      }
      expect((yield* stored(p, plain)).run.state).toBe("running")
    })))
})
