/**
 * Network decisions repeat: an agent that polls one host a thousand times must not make a
 * thousand events. Runners fold repeats into one event with a count; the plane refuses a batch
 * that did not. Pure.
 */
import type { RunEvent } from "../protocol/Event.js"

type Network = Extract<RunEvent, { type: "network.connected" }>

// Hosts may hold any separator (IPv6 literals), so the key is JSON, not a joined string.
const keyOf = (e: Network) => JSON.stringify([e.host, e.port ?? null, e.decision, e.reason])

/** Folds repeated identical decisions into the first one, summing counts; other events keep their order. */
export const aggregateNetwork = (events: ReadonlyArray<RunEvent>): ReadonlyArray<RunEvent> => {
  const out: Array<RunEvent> = []
  const seen = new Map<string, number>()
  for (const event of events) {
    if (event.type !== "network.connected") {
      out.push(event)
      continue
    }
    const key = keyOf(event)
    const at = seen.get(key)
    if (at === undefined) {
      seen.set(key, out.length)
      out.push(event)
    } else {
      const first = out[at] as Network
      out[at] = { ...first, count: (first.count ?? 1) + (event.count ?? 1) }
    }
  }
  return out
}

/** The index of the first network decision that repeats an earlier one in the batch, if any. */
export const duplicateNetworkDecision = (events: ReadonlyArray<RunEvent>): number | undefined => {
  const seen = new Set<string>()
  for (const [i, event] of events.entries()) {
    if (event.type !== "network.connected") continue
    const key = keyOf(event)
    if (seen.has(key)) return i
    seen.add(key)
  }
  return undefined
}
