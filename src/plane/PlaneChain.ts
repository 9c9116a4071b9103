/**
 * The plane's own writes to a run's event chain (creation, policy, consent, claim, secret
 * releases, cancellation, a lost runner), linked at the stored head. Call inside a store
 * transaction, so a runner's batch and the plane's entry never race for the same seq.
 */
import { Effect } from "effect"
import { link } from "../chain/Link.js"
import type { ChainEntry, RunEvent } from "../protocol/Event.js"
import type { Sha256 } from "../protocol/Hash.js"
import type { Timestamp } from "../protocol/Ids.js"
import { entryOf } from "./RunViews.js"
import type { PlaneStoreShape, RunRow } from "./Store.js"

export interface Timed {
  readonly event: RunEvent
  readonly ts: Timestamp
}

/** Appends after the run's head; returns the new entries. The run row must carry its contract. */
export const appendPlaneEvents = Effect.fn("PlaneChain.append")(function*(store: PlaneStoreShape, run: RunRow, events: ReadonlyArray<Timed>) {
  if (run.contract_hash === null) return yield* Effect.dieMessage(`run ${run.id} has no contract; its chain has no genesis`)
  const last = run.event_count === 0 ? undefined : entryOf((yield* store.getEvents(run.id, run.event_count - 1))[0]!)
  let prev = (last?.hash ?? run.contract_hash) as Sha256
  let prevTs = last?.ts
  const entries: Array<ChainEntry> = []
  for (const [i, { event, ts }] of events.entries()) {
    // The chain's time never goes backwards, whatever the wall clock does.
    const at = prevTs !== undefined && prevTs > ts ? prevTs : ts
    const entry = link(prev, run.event_count + i, at, event)
    entries.push(entry)
    prev = entry.hash
    prevTs = at
  }
  yield* store.insertEvents(run.id, entries.map((e) => ({ seq: e.seq, hash: e.hash, entry: JSON.stringify(e) })))
  return entries
})

/** The count and head after appending `entries` to `run`. */
export const advanced = (run: RunRow, entries: ReadonlyArray<ChainEntry>) => ({
  event_count: run.event_count + entries.length,
  head: entries.at(-1)?.hash ?? run.head
})
