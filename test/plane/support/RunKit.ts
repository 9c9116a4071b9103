/**
 * The runner's moves on a claimed run, shared by the claim, red-team and durability tests: create
 * and claim a run with its runner side prepared, post or complete it raw (to read the exact
 * refusal), relink events by hand, and read back what the plane holds.
 */
import { expect } from "@effect/vitest"
import { Effect, type Layer, Redacted, Schema, TestClock } from "effect"
import { link } from "../../../src/chain/Link.js"
import type { Claimed } from "../../../src/plane/ApiModel.js"
import type { ChainEntry, RunEvent } from "../../../src/protocol/Event.js"
import { sha256 } from "../../../src/protocol/Hash.js"
import type { RunId } from "../../../src/protocol/Ids.js"
import { Receipt } from "../../../src/protocol/Receipt.js"
import * as TestPlane from "../../../src/testkit/TestPlane.js"
import { claimClient, claimOrFail, type EnrolledRunner, type Principals, raw, request, runnerSide } from "./PlaneKit.js"

export const encodeReceipt = Schema.encodeSync(Receipt)

/** The refusal body every error carries. */
export const refusal = (error: string, details: unknown) => ({ _tag: error, error, message: expect.any(String), details })

/** Creates a run as the requester; its view (queued or awaiting approval, as policy decides). */
export const createRunView = (p: Principals, overrides: Parameters<typeof request>[0] = {}) =>
  Effect.gen(function*() {
    const created = yield* p.requester.runs.create({ payload: request(overrides) })
    if (created._tag !== "created") return yield* Effect.dieMessage("expected a created run")
    return created.run
  })

export const createRun = (p: Principals, overrides: Parameters<typeof request>[0] = {}) => Effect.map(createRunView(p, overrides), (run) => run.runId)

export const tokenOf = (claimed: Claimed) => Redacted.value(claimed.claimToken)

/** A new run claimed by `runner`, the runner's side prepared (chain continued, receipt signed) but not posted. */
export const claimedRun = (p: Principals, runner: EnrolledRunner, events?: Parameters<typeof runnerSide>[3]) =>
  Effect.gen(function*() {
    const runId = yield* createRun(p)
    const claimed = yield* claimOrFail(runner)
    expect(claimed.contract.runId).toBe(runId)
    const side = yield* runnerSide(p, runner, claimed, events)
    const claim = yield* claimClient(p, claimed)
    return { runId, claimed, side, claim, token: tokenOf(claimed) }
  })

export const postEventsRaw = (p: Pick<Principals, "url">, token: string, runId: RunId, entries: ReadonlyArray<unknown>) =>
  raw(p.url, "POST", `/runs/${runId}/events`, { token, body: JSON.stringify({ entries }) })
export const heartbeatRaw = (p: Pick<Principals, "url">, token: string, runId: RunId) => raw(p.url, "POST", `/runs/${runId}/heartbeat`, { token })
export const completeRaw = (p: Pick<Principals, "url">, token: string, runId: RunId, receipt: Receipt) =>
  raw(p.url, "POST", `/runs/${runId}/complete`, { token, body: JSON.stringify({ receipt: encodeReceipt(receipt) }) })
export const putBlobRaw = (p: Pick<Principals, "url">, token: string, bytes: Uint8Array) =>
  raw(p.url, "PUT", `/blobs/${sha256(bytes)}`, { token, body: bytes, contentType: "application/octet-stream" })

/** Links `events` after `after` (the entry they follow), as a runner would. */
export const relink = (after: ChainEntry, events: ReadonlyArray<RunEvent>, ts: ChainEntry["ts"] = after.ts): Array<ChainEntry> => {
  const out: Array<ChainEntry> = []
  let prev = after
  for (const event of events) {
    prev = link(prev.hash, prev.seq + 1, ts, event)
    out.push(prev)
  }
  return out
}

/** What the plane holds for a run, through the admin's eyes. */
export const stored = (p: Principals, runId: RunId) =>
  Effect.all({ run: Effect.map(p.admin.runs.get({ path: { runId } }), (d) => d.run), events: p.admin.runs.events({ path: { runId } }) })

/** The `type`s of a chain, in order. */
export const types = (entries: ReadonlyArray<{ readonly event: { readonly type: string } }>) => entries.map((e) => e.event.type)

/** How many terminal events a chain holds (never more than one). */
export const terminal = (entries: ReadonlyArray<{ readonly event: { readonly type: string } }>) =>
  entries.filter((e) => ["run.completed", "run.failed", "run.cancelled"].includes(e.event.type)).length

export type PlaneServices = Layer.Layer.Success<ReturnType<typeof TestPlane.layer>>

/** On the TestClock: wall-clock time first (contracts are dated), then the plane built inside the test's runtime. */
export const onTestClock = <A, E>(options: TestPlane.TestPlaneOptions, body: Effect.Effect<A, E, PlaneServices>) =>
  Effect.zipRight(TestClock.setTime(Date.now()), body.pipe(Effect.provide(TestPlane.layer(options))))
