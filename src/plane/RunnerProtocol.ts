/**
 * The RunnerProtocol service: the plane's side of a run's execution. Claim (atomic, pool-scoped,
 * secrets released and recorded), heartbeats and event batches that renew the lease, and
 * completion: the receipt verified against the stored contract, chain and the runner's enrolled
 * key, then countersigned.
 */
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { verifyFrom } from "../chain/Link.js"
import { Signer } from "../crypto/Signer.js"
import { type ChainEntry, type RunEvent, type RunEventType } from "../protocol/Event.js"
import type { Sha256 } from "../protocol/Hash.js"
import { type RunId, type Timestamp, timestampOf } from "../protocol/Ids.js"
import { Receipt } from "../protocol/Receipt.js"
import { countersignReceipt, makeBundle } from "../receipt/ReceiptBuilder.js"
import { verifyBundle } from "../receipt/Verify.js"
import { ChainRejected, Conflict, type Forbidden, PayloadTooLarge, ReceiptRejected } from "./ApiErrors.js"
import type { Claimed, Completed, EventsAccepted } from "./ApiModel.js"
import { requireClaim, requireRunner } from "./Access.js"
import type { CallerShape } from "./Caller.js"
import { duplicateNetworkDecision } from "./NetworkAggregation.js"
import { advanced, appendPlaneEvents, type Timed } from "./PlaneChain.js"
import { PlaneConfig } from "./PlaneConfig.js"
import { Runs } from "./Runs.js"
import { contractOf, entryOf, runnerKeyOf, runView } from "./RunViews.js"
import { SecretsBroker } from "./SecretsBroker.js"
import { PlaneStore, type RunRow, type StoreError } from "./Store.js"
import * as Tokens from "./Tokens.js"

/** Entries only the plane writes; a runner posting one is forging the plane's word. */
const planeOnly: ReadonlySet<RunEventType> = new Set([
  "run.created", "policy.evaluated", "consent.requested", "consent.granted", "secret.released", "run.claimed", "run.cancelled"
])

const encodeReceipt = Schema.encodeSync(Receipt)

export interface RunnerProtocolShape {
  readonly claim: (caller: CallerShape) => Effect.Effect<Claimed | { readonly _tag: "empty" }, Forbidden | StoreError>
  readonly heartbeat: (caller: CallerShape, runId: RunId) => Effect.Effect<{ readonly leaseExpiresAt: Timestamp }, Forbidden | Conflict | StoreError>
  readonly postEvents: (caller: CallerShape, runId: RunId, entries: ReadonlyArray<ChainEntry>) => Effect.Effect<
    typeof EventsAccepted.Type,
    Forbidden | Conflict | ChainRejected | PayloadTooLarge | StoreError
  >
  readonly complete: (caller: CallerShape, runId: RunId, receipt: Receipt) => Effect.Effect<typeof Completed.Type, Forbidden | Conflict | ReceiptRejected | StoreError>
}

export class RunnerProtocol extends Context.Tag("warrant/plane/RunnerProtocol")<RunnerProtocol, RunnerProtocolShape>() {}

/** Tries this many queued runs per claim before answering "nothing to claim" (each failed one is ended). */
const CLAIM_ATTEMPTS = 16

export const make = Effect.gen(function*() {
  const store = yield* PlaneStore
  const config = yield* PlaneConfig
  const broker = yield* SecretsBroker
  const runs = yield* Runs
  const signer = yield* Signer
  const leaseMillis = Duration.toMillis(config.lease)

  const lastEntry = (run: RunRow) =>
    run.event_count === 0 ? Effect.succeed(undefined) : Effect.map(store.getEvents(run.id, run.event_count - 1), (rows) => entryOf(rows[0]!))

  const liveRun = (runId: RunId) =>
    Effect.flatMap(store.getRun(runId), (row) =>
      Option.isSome(row) && row.value.state === "running"
        ? Effect.succeed(row.value)
        : Effect.fail(new Conflict({
          message: `run ${runId} is ${Option.match(row, { onNone: () => "unknown", onSome: (r) => r.state })}, not running`,
          details: { resource: "run", id: runId, ...Option.match(row, { onNone: () => ({}), onSome: (r) => ({ state: r.state }) }) }
        })))

  /** One queued run claimed and prepared, "ended" when it could not be handed out, or "empty". */
  const claimOne = (runner: Extract<CallerShape, { kind: "runner" }>) =>
    store.transaction(Effect.gen(function*() {
      const at = yield* Clock.currentTimeMillis
      const now = timestampOf(at)
      const leaseUntil = timestampOf(at + leaseMillis)
      const claimed = yield* store.claimNext(runner.pool, runner.runnerId, leaseUntil, now)
      if (Option.isNone(claimed)) return { _tag: "empty" as const }
      const run = claimed.value
      const contract = Option.getOrThrow(contractOf(run))
      // The claimer never gets this run, so it is not recorded as the run's runner.
      const fail = (message: string) =>
        store.updateRun(run.id, ["running"], { runner_id: null }).pipe(
          Effect.zipRight(runs.end({ ...run, runner_id: null }, "failed", { type: "run.failed", failureClass: "policy", message }, { failureClass: "policy", message })),
          Effect.as({ _tag: "ended" as const })
        )
      if (Date.parse(contract.expiresAt) <= at) return yield* fail(`the contract expired at ${contract.expiresAt} before a runner claimed it`)

      const released: Array<{ name: typeof contract.secrets[number]["name"]; value: Redacted.Redacted<string> }> = []
      for (const grant of contract.secrets) {
        // Policy may have changed since the run was created: release only what it releases now.
        if (!config.policy.releasableSecrets.includes(grant.name)) return yield* fail(`the policy no longer releases secret ${grant.name}`)
        const value = yield* broker.release(grant.name).pipe(Effect.either)
        if (value._tag === "Left") {
          if (value.left._tag === "StoreError") return yield* value.left
          return yield* fail(value.left.message)
        }
        released.push({ name: grant.name, value: value.right })
      }
      const events: ReadonlyArray<Timed> = [
        { event: { type: "run.claimed", runnerId: runner.runnerId, keyId: runner.keyId, pool: runner.pool }, ts: now },
        ...contract.secrets.map((grant): Timed => ({ event: { type: "secret.released", name: grant.name, scope: grant.scope }, ts: now }))
      ]
      const appended = yield* appendPlaneEvents(store, run, events)
      yield* store.updateRun(run.id, ["running"], advanced(run, appended))
      const minted = Tokens.mint("wct")
      yield* store.insertClaim({ nonce: minted.id, secret_hash: minted.secretHash, run_id: run.id, runner_id: runner.runnerId, issued_at: now, spent_at: null })
      yield* store.touchRunner(runner.runnerId, now)
      const entries = (yield* store.getEvents(run.id)).map(entryOf)
      return { _tag: "claimed" as const, contract, entries, claimToken: Redacted.make(minted.token), secrets: released, leaseExpiresAt: leaseUntil }
    }))

  const claim: RunnerProtocolShape["claim"] = Effect.fn("RunnerProtocol.claim")(function*(caller) {
    const runner = yield* requireRunner(caller)
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const result = yield* claimOne(runner)
      if (result._tag !== "ended") return result
    }
    return { _tag: "empty" as const }
  })

  const heartbeat: RunnerProtocolShape["heartbeat"] = Effect.fn("RunnerProtocol.heartbeat")(function*(caller, runId) {
    const claim = yield* requireClaim(caller, runId, "renew this run's lease")
    const at = yield* Clock.currentTimeMillis
    const leaseExpiresAt = timestampOf(at + leaseMillis)
    const updated = yield* store.updateRun(runId, ["running"], { lease_expires_at: leaseExpiresAt, updated_at: timestampOf(at) })
    if (Option.isNone(updated)) yield* liveRun(runId)
    yield* store.touchRunner(claim.runnerId, timestampOf(at))
    return { leaseExpiresAt }
  })

  const rejected = (runId: RunId, index: number, kind: string, message: string) =>
    new ChainRejected({ message: `event batch for run ${runId} refused: ${message}`, details: { runId, index, kind } })

  const postEvents: RunnerProtocolShape["postEvents"] = Effect.fn("RunnerProtocol.postEvents")(function*(caller, runId, entries) {
    const claim = yield* requireClaim(caller, runId, "post this run's events")
    return yield* store.transaction(Effect.gen(function*() {
      const run = yield* liveRun(runId)
      const at = yield* Clock.currentTimeMillis
      const leaseExpiresAt = timestampOf(at + leaseMillis)
      const first = entries[0]!.seq
      if (first > run.event_count) return yield* rejected(runId, 0, "seq", `the batch starts at seq ${first} but the plane holds ${run.event_count} entries; post from seq ${run.event_count}`)
      // Entries the plane already holds must be the very same: then re-posting is harmless.
      const overlap = entries.filter((e) => e.seq < run.event_count)
      const stored = overlap.length === 0 ? [] : yield* store.getEvents(runId, first)
      for (const [i, entry] of overlap.entries()) {
        if (stored[i]?.hash !== entry.hash) return yield* rejected(runId, i, "conflict", `entry seq ${entry.seq} differs from the one the plane already holds`)
      }
      const fresh = entries.slice(overlap.length)
      const lease = { lease_expires_at: leaseExpiresAt, updated_at: timestampOf(at) }
      if (fresh.length === 0) {
        yield* store.updateRun(runId, ["running"], lease)
        return { stored: 0, count: run.event_count, head: run.head as Sha256, leaseExpiresAt }
      }
      if (run.event_count + fresh.length > config.maxEventsPerRun) {
        return yield* new PayloadTooLarge({
          message: `run ${runId} may hold at most ${config.maxEventsPerRun} events; aggregate repeated events (network decisions carry a count)`,
          details: { limitBytes: config.maxEventsPerRun }
        })
      }
      for (const [i, entry] of fresh.entries()) {
        if (planeOnly.has(entry.event.type)) {
          return yield* rejected(runId, overlap.length + i, "plane-only", `${entry.event.type} is written by the plane, never by a runner`)
        }
      }
      const duplicate = duplicateNetworkDecision(fresh.map((e) => e.event as RunEvent))
      if (duplicate !== undefined) {
        return yield* rejected(runId, overlap.length + duplicate, "unaggregated", "repeated network decisions for the same host, port, decision and reason must be posted as one event with a count")
      }
      const last = yield* lastEntry(run)
      const verdict = verifyFrom(fresh, { seq: run.event_count, prevHash: run.head ?? run.contract_hash!, ts: last?.ts ?? "", lastType: last?.event.type })
      if (!verdict.ok) return yield* rejected(runId, overlap.length + verdict.broken.index, verdict.broken.kind, verdict.broken.message)
      yield* store.insertEvents(runId, fresh.map((e) => ({ seq: e.seq, hash: e.hash, entry: JSON.stringify(e) })))
      yield* store.updateRun(runId, ["running"], { ...advanced(run, fresh), ...lease })
      yield* store.touchRunner(claim.runnerId, timestampOf(at))
      return { stored: fresh.length, count: verdict.count, head: verdict.head, leaseExpiresAt }
    }))
  })

  const complete: RunnerProtocolShape["complete"] = Effect.fn("RunnerProtocol.complete")(function*(caller, runId, receipt) {
    const claim = yield* requireClaim(caller, runId, "complete this run")
    return yield* store.transaction(Effect.gen(function*() {
      const run = yield* liveRun(runId)
      const entries = (yield* store.getEvents(runId)).map(entryOf)
      const last = entries.at(-1)?.event
      if (last === undefined || !["run.completed", "run.failed", "run.cancelled"].includes(last.type)) {
        return yield* new Conflict({ message: `run ${runId}'s chain has not ended; post run.completed or run.failed before completing`, details: { resource: "run", id: runId, state: run.state } })
      }
      const runner = Option.getOrThrow(yield* store.getRunner(claim.runnerId))
      const runnerKey = runnerKeyOf(runner)
      const contract = Option.getOrThrow(contractOf(run))
      const bundle = makeBundle({ contract, entries, receipt, keys: [signer.record, runnerKey] })
      const verification = verifyBundle(JSON.parse(JSON.stringify(bundle)), {
        trustedKeys: [{ keyId: signer.keyId, roles: ["issuer"] }, { keyId: runnerKey.keyId, publicKey: runnerKey.publicKey, roles: ["runner"] }],
        requireCountersignature: false
      })
      const identity = receipt.runner.runnerId !== claim.runnerId || receipt.runner.pool !== run.pool
        ? [{ where: "$.receipt.runner", code: "receipt.runner-mismatch", message: `the receipt names runner ${receipt.runner.runnerId} in pool ${receipt.runner.pool}; this claim belongs to ${claim.runnerId} in ${run.pool}` }]
        : []
      // No event carries attestation evidence and enrollment verifies none, so the plane's
      // countersignature would vouch for a bare claim: a receipt may only say "mock".
      const attestation = receipt.runner.attestationTier !== "mock"
        ? [{ where: "$.receipt.runner.attestationTier", code: "receipt.dishonest-tier", message: `the receipt claims ${receipt.runner.attestationTier} attestation, but this plane verifies no hardware attestation of its runners; a software runner's receipt says mock` }]
        : []
      // The verifier checks a demanded dimension against the sandbox.attested matrix when there is
      // one; a run that completes without any would otherwise meet the contract's demand by silence.
      const demanded = contract.isolation.enforce
      const unattested = receipt.status === "completed" && demanded.length > 0 && receipt.sandbox === undefined
        ? [{ where: "$.receipt.sandbox", code: "receipt.dishonest-tier", message: `the contract demands enforcement of ${demanded.join(", ")}, but the run completed without a sandbox.attested event recording how its session enforced them` }]
        : []
      const problems = [...identity, ...attestation, ...unattested, ...verification.problems]
      if (problems.length > 0) {
        return yield* new ReceiptRejected({ message: `receipt for run ${runId} refused: ${problems.map((p) => p.message).join("; ")}`, details: { runId, problems } })
      }
      const countersigned = yield* countersignReceipt(receipt).pipe(
        Effect.provideService(Signer, signer),
        Effect.catchTag("ReceiptIncomplete", (e) => Effect.fail(new ReceiptRejected({ message: e.message, details: { runId, problems: [] } })))
      )
      const now = timestampOf(yield* Clock.currentTimeMillis)
      const failure = last.type === "run.failed" ? { failure_class: last.failureClass, failure_message: last.message } : {}
      const updated = yield* store.updateRun(runId, ["running"], {
        state: receipt.status,
        receipt: JSON.stringify(encodeReceipt(countersigned)),
        ...failure,
        updated_at: now
      })
      yield* store.spendClaims(runId, now)
      return { run: runView(Option.getOrThrow(updated)), receipt: countersigned }
    }))
  })

  return RunnerProtocol.of({ claim, heartbeat, postEvents, complete })
})

export const layer = Layer.effect(RunnerProtocol, make)
