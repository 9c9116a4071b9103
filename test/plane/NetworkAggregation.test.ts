import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { aggregateNetwork, duplicateNetworkDecision } from "../../src/plane/NetworkAggregation.js"
import type { RunEvent } from "../../src/protocol/Event.js"
import { sha256 } from "../../src/protocol/Hash.js"

type Network = Extract<RunEvent, { type: "network.connected" }>

const net = (host: string, options: { port?: number; decision?: Network["decision"]; reason?: string; count?: number } = {}): Network => ({
  type: "network.connected",
  host,
  ...(options.port === undefined ? {} : { port: options.port }),
  decision: options.decision ?? "allowed",
  reason: options.reason ?? "allowlisted",
  ...(options.count === undefined ? {} : { count: options.count })
})

const cmd = (exitCode: number): RunEvent => ({ type: "command.executed", argvHash: sha256(`cmd ${exitCode}`), exitCode })

const npm = net("registry.npmjs.org", { port: 443 })

/** Deep-frozen input, so a fold that mutated it would throw. */
const frozen = (events: ReadonlyArray<RunEvent>): ReadonlyArray<RunEvent> => Object.freeze(events.map((e) => Object.freeze({ ...e })))

describe("aggregateNetwork", () => {
  it("returns an empty batch unchanged", () => {
    expect(aggregateNetwork([])).toEqual([])
  })

  it("leaves a batch without repeats exactly as it was, the same objects, no count added", () => {
    const events = frozen([cmd(0), npm, net("example.com", { port: 443 }), cmd(1)])
    const out = aggregateNetwork(events)
    expect(out).toEqual(events)
    out.forEach((e, i) => expect(e).toBe(events[i]))
    expect(out[1]).not.toHaveProperty("count")
  })

  it("folds identical decisions into the first, counting each repeat as one", () => {
    expect(aggregateNetwork(frozen([npm, npm, npm]))).toEqual([{ ...npm, count: 3 }])
  })

  it("sums the counts of repeats that already carry one", () => {
    expect(aggregateNetwork(frozen([net("a.test", { count: 5 }), net("a.test", { count: 2 }), net("a.test")]))).toEqual([net("a.test", { count: 8 })])
    expect(aggregateNetwork(frozen([net("a.test"), net("a.test", { count: 10 })]))).toEqual([net("a.test", { count: 11 })])
  })

  it("keeps each decision at its first position and every other event in its order", () => {
    const a = net("a.test", { port: 443 })
    const b = net("b.test", { port: 80, decision: "blocked", reason: "not allowlisted" })
    const events = frozen([cmd(1), a, cmd(2), b, a, cmd(3), b, a, { type: "run.completed", exitCode: 0 }])
    expect(aggregateNetwork(events)).toEqual([cmd(1), { ...a, count: 3 }, cmd(2), { ...b, count: 2 }, cmd(3), { type: "run.completed", exitCode: 0 }])
  })

  it("never folds non-network events, even identical ones", () => {
    const events = frozen([cmd(0), cmd(0), cmd(0)])
    expect(aggregateNetwork(events)).toEqual(events)
  })

  it("distinguishes host, port, decision and reason", () => {
    const variants = [
      npm,
      net("registry.npmjs.org"),
      net("registry.npmjs.org", { port: 80 }),
      net("Registry.npmjs.org", { port: 443 }),
      net("registry.npmjs.org.", { port: 443 }),
      net("registry.npmjs.org", { port: 443, decision: "blocked" }),
      net("registry.npmjs.org", { port: 443, reason: "allowlisted by address" }),
      net("registry.npmjs.org", { port: 443, reason: "" })
    ]
    expect(aggregateNetwork(frozen(variants))).toEqual(variants)
    expect(aggregateNetwork(frozen([...variants, ...variants]))).toEqual(variants.map((v) => ({ ...v, count: 2 })))
  })

  it("keeps IPv6 hosts (colons) apart from their ports and from each other", () => {
    const variants = [
      net("2001:db8::1", { port: 443 }),
      net("2001:db8::1:443"),
      net("2001:db8::1:443", { port: 443 }),
      net("2001:db8::1"),
      net("[2001:db8::1]", { port: 443 }),
      net("::1", { port: 8080 }),
      net("::1:8080"),
      net("::", { port: 1 }),
      net(":", { port: 1 })
    ]
    expect(aggregateNetwork(frozen(variants))).toEqual(variants)
    expect(aggregateNetwork(frozen([variants[0]!, variants[1]!, variants[0]!]))).toEqual([{ ...variants[0]!, count: 2 }, variants[1]])
  })

  it("keeps hosts and reasons with separators, quotes and JSON-looking text apart", () => {
    const variants = [
      net("a|b", { reason: "c" }),
      net("a", { reason: "b|c" }),
      net("a\",443,\"allowed", { reason: "x" }),
      net("a", { port: 443, reason: "x" }),
      net("a\u0000b"),
      net("a b")
    ]
    expect(aggregateNetwork(frozen(variants))).toEqual(variants)
  })
})

describe("duplicateNetworkDecision", () => {
  it("is undefined for a batch without repeats", () => {
    expect(duplicateNetworkDecision([])).toBeUndefined()
    expect(duplicateNetworkDecision([cmd(0), npm, net("registry.npmjs.org"), net("registry.npmjs.org", { decision: "blocked" })])).toBeUndefined()
    expect(duplicateNetworkDecision([net("2001:db8::1", { port: 443 }), net("2001:db8::1:443")])).toBeUndefined()
  })

  it("never counts identical non-network events as repeats", () => {
    expect(duplicateNetworkDecision([cmd(0), cmd(0), { type: "run.completed", exitCode: 0 }, { type: "run.completed", exitCode: 0 }])).toBeUndefined()
  })

  it("is the index of the first event that repeats an earlier decision", () => {
    const a = net("a.test")
    const b = net("b.test", { port: 80 })
    expect(duplicateNetworkDecision([a, a])).toBe(1)
    expect(duplicateNetworkDecision([cmd(0), a, b, cmd(1), b, a])).toBe(4)
    expect(duplicateNetworkDecision([a, b, cmd(0), a, b])).toBe(3)
  })

  it("treats decisions differing only in count as repeats: the batch should have carried one summed event", () => {
    expect(duplicateNetworkDecision([net("a.test", { count: 3 }), cmd(0), net("a.test", { count: 4 })])).toBe(2)
  })

  const pool: ReadonlyArray<RunEvent> = [
    cmd(0),
    cmd(1),
    net("a.test"),
    net("a.test", { count: 4 }),
    net("a.test", { port: 443 }),
    net("a.test", { decision: "blocked", reason: "denied" }),
    net("2001:db8::1", { port: 443 }),
    net("2001:db8::1:443", { count: 2 })
  ]
  const batch = fc.array(fc.constantFrom(...pool), { maxLength: 40 })
  const keyOf = (e: Network) => JSON.stringify([e.host, e.port ?? null, e.decision, e.reason])
  const totals = (events: ReadonlyArray<RunEvent>) => {
    const sums = new Map<string, number>()
    for (const e of events) if (e.type === "network.connected") sums.set(keyOf(e), (sums.get(keyOf(e)) ?? 0) + (e.count ?? 1))
    return sums
  }

  it("property: an aggregated batch has no repeats, the same totals per decision and the same other events in order, and aggregating again changes nothing", () => {
    fc.assert(
      fc.property(batch, (events) => {
        const out = aggregateNetwork(events)
        expect(duplicateNetworkDecision(out)).toBeUndefined()
        expect(totals(out)).toEqual(totals(events))
        expect(out.filter((e) => e.type !== "network.connected")).toEqual(events.filter((e) => e.type !== "network.connected"))
        expect(aggregateNetwork(out)).toEqual(out)
        expect(duplicateNetworkDecision(events) === undefined).toBe(out.length === events.length)
      }),
      { numRuns: 300 }
    )
  })
})
