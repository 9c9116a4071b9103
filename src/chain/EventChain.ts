/**
 * The EventChain service: one run's append-only, hash-linked event log. Appends from many
 * fibers are serialised, timestamps never go backwards, and nothing follows a terminal event.
 */
import { Clock, Context, Data, Effect, Layer } from "effect"
import { type ChainEntry, type RunEvent, terminalTags } from "../protocol/Event.js"
import type { Sha256 } from "../protocol/Hash.js"
import { timestampOf } from "../protocol/Ids.js"
import { link, verifyChain } from "./Link.js"

export class ChainBroken extends Data.TaggedError("ChainBroken")<{ readonly index: number; readonly reason: string }> {
  override get message() {
    return `event chain broken at entry ${this.index}: ${this.reason}`
  }
}

export class ChainClosed extends Data.TaggedError("ChainClosed")<{ readonly terminal: string; readonly attempted: string }> {
  override get message() {
    return `cannot append ${this.attempted}: the run already ended with ${this.terminal}`
  }
}

export interface EventChainShape {
  /** The contract hash the first entry links to. */
  readonly genesis: Sha256
  readonly append: (event: RunEvent) => Effect.Effect<ChainEntry, ChainClosed>
  readonly entries: Effect.Effect<ReadonlyArray<ChainEntry>>
  /** The last entry's hash, or the genesis while the chain is empty. */
  readonly head: Effect.Effect<Sha256>
}

export class EventChain extends Context.Tag("warrant/chain/EventChain")<EventChain, EventChainShape>() {}

/** A chain linked to `genesis`, optionally resuming from entries already recorded (checked first). */
export const make = (genesis: Sha256, existing: ReadonlyArray<ChainEntry> = []) =>
  Effect.gen(function*() {
    const verdict = verifyChain(existing, genesis)
    if (!verdict.ok) return yield* new ChainBroken({ index: verdict.broken.index, reason: verdict.broken.message })
    const log: Array<ChainEntry> = [...existing]
    const lock = yield* Effect.makeSemaphore(1)

    const append = (event: RunEvent) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const last = log.at(-1)
        if (last !== undefined && terminalTags.has(last.event.type)) {
          return yield* new ChainClosed({ terminal: last.event.type, attempted: event.type })
        }
        const now = timestampOf(yield* Clock.currentTimeMillis)
        // A wall clock can step back; the chain's time must not.
        const ts = last !== undefined && last.ts > now ? last.ts : now
        const entry = link(last?.hash ?? genesis, log.length, ts, event)
        log.push(entry)
        return entry
      }))

    return EventChain.of({
      genesis,
      append,
      entries: Effect.sync(() => log.slice()),
      head: Effect.sync(() => log.at(-1)?.hash ?? genesis)
    })
  })

export const layer = (genesis: Sha256): Layer.Layer<EventChain> =>
  Layer.effect(EventChain, Effect.orDie(make(genesis)))
