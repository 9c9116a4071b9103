/**
 * The lease sweeper: a run whose runner stopped renewing its lease is failed with a `run.failed`
 * event saying the runner was lost, so nothing stays `running` forever. A scoped background fiber.
 */
import { Clock, Effect, Layer, Schedule } from "effect"
import { timestampOf } from "../protocol/Ids.js"
import { PlaneConfig } from "./PlaneConfig.js"
import { Runs } from "./Runs.js"
import { PlaneStore } from "./Store.js"

/** Fails every run whose lease has expired; the number failed. */
export const sweep = Effect.gen(function*() {
  const store = yield* PlaneStore
  const runs = yield* Runs
  const now = timestampOf(yield* Clock.currentTimeMillis)
  const expired = yield* store.expiredLeases(now)
  let failed = 0
  for (const run of expired) {
    const message = `runner ${run.runner_id} was lost: its lease expired at ${run.lease_expires_at} without a heartbeat, event or completion`
    const ended = yield* store.transaction(Effect.flatMap(store.getRun(run.id), (current) =>
      // Re-read inside the transaction: a heartbeat may have renewed the lease since the scan.
      current._tag === "Some" && current.value.state === "running" && current.value.lease_expires_at !== null && current.value.lease_expires_at <= now
        ? runs.end(current.value, "failed", { type: "run.failed", failureClass: "runner-lost", message }, { failureClass: "runner-lost", message })
        : Effect.succeedNone))
    if (ended._tag === "Some") failed++
  }
  if (failed > 0) yield* Effect.logWarning(`failed ${failed} run(s) whose runner was lost`)
  return failed
})

export const layer = Layer.scopedDiscard(Effect.gen(function*() {
  const { sweepEvery } = yield* PlaneConfig
  yield* sweep.pipe(
    Effect.catchAllCause((cause) => Effect.logError("lease sweep failed; retrying on the next tick", cause)),
    Effect.repeat(Schedule.spaced(sweepEvery)),
    Effect.forkScoped
  )
}))
