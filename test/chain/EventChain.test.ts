import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Schema, TestClock } from "effect"
import * as fc from "fast-check"
import * as EventChain from "../../src/chain/EventChain.js"
import { entryHash, EVENT_VERSION, link, verifyChain } from "../../src/chain/Link.js"
import { type ChainEntry, type ChainEntryEncoded, RunEvent } from "../../src/protocol/Event.js"
import { sha256, type Sha256 } from "../../src/protocol/Hash.js"
import type { KeyId, PoolName, RunnerId, Timestamp } from "../../src/protocol/Ids.js"
import { timestampOf } from "../../src/protocol/Ids.js"
import type { WorkspacePath } from "../../src/protocol/WorkspacePath.js"

const genesis = sha256("the contract")
const runnerKey = `ed25519:${"ab".repeat(32)}` as KeyId

const claimed: RunEvent = { type: "run.claimed", runnerId: "runner-1" as RunnerId, keyId: runnerKey, pool: "default" as PoolName }
const connected = (port: number): RunEvent => ({ type: "network.connected", host: "registry.npmjs.org", port, decision: "allowed", reason: "allowlisted" })
const completed: RunEvent = { type: "run.completed", exitCode: 0 }
const failed: RunEvent = { type: "run.failed", failureClass: "timeout", message: "ran past 300000 ms" }
const cancelled: RunEvent = { type: "run.cancelled", reason: "operator request" }

const ts = (millis: number): Timestamp => timestampOf(millis)

/** A well-linked chain of `events`, one second apart from t = 0. */
const chainOf = (events: ReadonlyArray<RunEvent>, from: Sha256 = genesis): Array<ChainEntry> => {
  const out: Array<ChainEntry> = []
  for (const [i, event] of events.entries()) out.push(link(out.at(-1)?.hash ?? from, i, ts(i * 1000), event))
  return out
}

/** The entry with `edit` applied and its hash recomputed, so only the edit is wrong. */
const rehashed = (entry: ChainEntryEncoded, edit: Partial<ChainEntryEncoded>): ChainEntryEncoded => {
  const changed = { ...entry, ...edit }
  return { ...changed, hash: Either.getOrThrow(entryHash(changed)) }
}

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(exit)}`)
  return exit.cause.error
}

describe("EventChain service", () => {
  it.effect("the genesis entry links to the contract hash and has seq 0", () =>
    Effect.gen(function*() {
      const chain = yield* EventChain.make(genesis)
      expect(chain.genesis).toBe(genesis)
      expect(yield* chain.head).toBe(genesis)
      expect(yield* chain.entries).toEqual([])

      const entry = yield* chain.append(claimed)
      const { hash: _hash, ...body } = entry
      expect(body).toEqual({ version: EVENT_VERSION, seq: 0, ts: "1970-01-01T00:00:00.000Z", event: claimed, prevHash: genesis })
      expect(entry.hash).toBe(Either.getOrThrow(entryHash(entry)))
      expect(yield* chain.head).toBe(entry.hash)
      expect(yield* chain.entries).toEqual([entry])
    }))

  it.effect("each entry links to the previous one, with the clock's time", () =>
    Effect.gen(function*() {
      const chain = yield* EventChain.make(genesis)
      yield* chain.append(claimed)
      yield* TestClock.adjust(1500)
      yield* chain.append(connected(443))
      yield* TestClock.adjust(250)
      yield* chain.append(completed)
      const entries = yield* chain.entries
      expect(entries.map((e) => e.seq)).toEqual([0, 1, 2])
      expect(entries.map((e) => e.ts)).toEqual(["1970-01-01T00:00:00.000Z", "1970-01-01T00:00:01.500Z", "1970-01-01T00:00:01.750Z"])
      expect(entries.map((e) => e.prevHash)).toEqual([genesis, entries[0]!.hash, entries[1]!.hash])
      expect(new Set(entries.map((e) => e.hash)).size).toBe(3)
      expect(verifyChain(entries, genesis)).toEqual({ ok: true, head: entries[2]!.hash, count: 3 })
      expect(yield* chain.head).toBe(entries[2]!.hash)
    }))

  it.effect("entries returns a snapshot the caller cannot use to rewrite the log", () =>
    Effect.gen(function*() {
      const chain = yield* EventChain.make(genesis)
      yield* chain.append(claimed)
      const snapshot = yield* chain.entries
      ;(snapshot as Array<ChainEntry>).pop()
      expect((yield* chain.entries).length).toBe(1)
    }))

  it.effect("200 appends from 20 concurrent fibers give seq 0..199, no gaps, a verifying chain", () =>
    Effect.gen(function*() {
      const chain = yield* EventChain.make(genesis)
      const appended = yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) => Effect.zipRight(TestClock.adjust(i % 3), chain.append(connected(1000 + i))),
        { concurrency: 20 }
      )
      expect(appended.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i))
      const entries = yield* chain.entries
      expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i))
      // Every event made it in exactly once.
      const ports = entries.map((e) => e.event.type === "network.connected" ? e.event.port : -1)
      expect([...ports].sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: 200 }, (_, i) => 1000 + i))
      expect(verifyChain(entries, genesis)).toEqual({ ok: true, head: entries[199]!.hash, count: 200 })
      expect(yield* chain.head).toBe(entries[199]!.hash)
    }))

  for (const terminal of [completed, failed, cancelled]) {
    it.effect(`append after ${terminal.type} fails with ChainClosed naming both events`, () =>
      Effect.gen(function*() {
        const chain = yield* EventChain.make(genesis)
        yield* chain.append(claimed)
        const last = yield* chain.append(terminal)
        const error = failureOf(yield* Effect.exit(chain.append(connected(443))))
        expect(error).toBeInstanceOf(EventChain.ChainClosed)
        expect(error).toMatchObject({ _tag: "ChainClosed", terminal: terminal.type, attempted: "network.connected" })
        expect(error.message).toBe(`cannot append network.connected: the run already ended with ${terminal.type}`)
        // A second terminal event is refused the same way, and nothing was recorded.
        const again = failureOf(yield* Effect.exit(chain.append(completed)))
        expect(again).toMatchObject({ _tag: "ChainClosed", terminal: terminal.type, attempted: "run.completed" })
        expect((yield* chain.entries).map((e) => e.event.type)).toEqual(["run.claimed", terminal.type])
        expect(yield* chain.head).toBe(last.hash)
      }))
  }

  it.effect("when the clock steps backwards the new entry keeps the previous timestamp", () =>
    Effect.gen(function*() {
      const chain = yield* EventChain.make(genesis)
      yield* TestClock.setTime(10_000)
      const first = yield* chain.append(claimed)
      yield* TestClock.setTime(5_000)
      const second = yield* chain.append(connected(443))
      yield* TestClock.setTime(9_999)
      const third = yield* chain.append(connected(444))
      yield* TestClock.setTime(12_000)
      const fourth = yield* chain.append(completed)
      expect(first.ts).toBe("1970-01-01T00:00:10.000Z")
      expect(second.ts).toBe(first.ts)
      expect(third.ts).toBe(first.ts)
      expect(fourth.ts).toBe("1970-01-01T00:00:12.000Z")
      expect(verifyChain(yield* chain.entries, genesis)).toEqual({ ok: true, head: fourth.hash, count: 4 })
    }))

  it.effect("make(genesis, existing) resumes: seq and links continue from the recorded entries", () =>
    Effect.gen(function*() {
      const first = yield* EventChain.make(genesis)
      yield* first.append(claimed)
      yield* TestClock.adjust(1000)
      yield* first.append(connected(443))
      const recorded = yield* first.entries

      const resumed = yield* EventChain.make(genesis, recorded)
      expect(yield* resumed.head).toBe(recorded[1]!.hash)
      yield* TestClock.adjust(1000)
      const next = yield* resumed.append(completed)
      expect(next.seq).toBe(2)
      expect(next.prevHash).toBe(recorded[1]!.hash)
      expect(next.ts).toBe("1970-01-01T00:00:02.000Z")
      const entries = yield* resumed.entries
      expect(entries.slice(0, 2)).toEqual(recorded)
      expect(verifyChain(entries, genesis)).toEqual({ ok: true, head: next.hash, count: 3 })
    }))

  it.effect("a resumed chain never goes back behind the last recorded timestamp", () =>
    Effect.gen(function*() {
      const recorded = chainOf([claimed, connected(443)]) // the last entry is at t = 1 s
      const resumed = yield* EventChain.make(genesis, recorded)
      const next = yield* resumed.append(connected(444)) // the TestClock is at 0
      expect(next.ts).toBe(recorded[1]!.ts)
    }))

  it.effect("a chain resumed after its terminal event stays closed", () =>
    Effect.gen(function*() {
      const resumed = yield* EventChain.make(genesis, chainOf([claimed, completed]))
      const error = failureOf(yield* Effect.exit(resumed.append(connected(443))))
      expect(error).toMatchObject({ _tag: "ChainClosed", terminal: "run.completed", attempted: "network.connected" })
    }))

  it.effect("make with a tampered existing chain fails with ChainBroken at the tampered index", () =>
    Effect.gen(function*() {
      const recorded = chainOf([claimed, connected(443), connected(444), connected(445)])
      const tampered = recorded.map((e, i) => i === 2 ? { ...e, event: connected(8443) } : e)
      const error = failureOf(yield* Effect.exit(EventChain.make(genesis, tampered)))
      expect(error).toBeInstanceOf(EventChain.ChainBroken)
      expect(error.index).toBe(2)
      expect(error.reason).toContain("entry 2 claims hash")
      expect(error.message).toMatch(/^event chain broken at entry 2: /)
    }))

  it.effect("make with a chain linked to another genesis fails with ChainBroken at index 0", () =>
    Effect.gen(function*() {
      const recorded = chainOf([claimed, connected(443)], sha256("another contract"))
      const error = failureOf(yield* Effect.exit(EventChain.make(genesis, recorded)))
      expect(error).toMatchObject({ _tag: "ChainBroken", index: 0 })
      expect(error.reason).toBe(`entry 0 links to ${sha256("another contract")}, but the previous hash is ${genesis}`)
    }))

  it.effect("layer(genesis) provides an empty chain on that genesis", () =>
    Effect.gen(function*() {
      const chain = yield* EventChain.EventChain
      const entry = yield* chain.append(claimed)
      expect(entry.prevHash).toBe(genesis)
    }).pipe(Effect.provide(EventChain.layer(genesis))))
})

describe("verifyChain", () => {
  const events = [claimed, connected(443), connected(444), connected(445)]

  it("accepts an empty chain with the genesis as head", () => {
    expect(verifyChain([], genesis)).toEqual({ ok: true, head: genesis, count: 0 })
  })

  it("accepts a well-linked chain and reports its head and count", () => {
    const entries = chainOf(events)
    expect(verifyChain(entries, genesis)).toEqual({ ok: true, head: entries[3]!.hash, count: 4 })
  })

  it("reports a wrong seq as { index, kind: seq }", () => {
    const entries: Array<ChainEntryEncoded> = chainOf(events)
    entries[2] = rehashed(entries[2]!, { seq: 3 })
    const verdict = verifyChain(entries, genesis)
    expect(verdict).toEqual({ ok: false, broken: { index: 2, kind: "seq", message: "entry 2 has seq 3; expected 2" } })
  })

  it("reports a dropped entry as a seq break at the gap", () => {
    const entries = chainOf(events)
    const verdict = verifyChain([entries[0]!, entries[2]!, entries[3]!], genesis)
    expect(verdict.ok ? undefined : { index: verdict.broken.index, kind: verdict.broken.kind }).toEqual({ index: 1, kind: "seq" })
  })

  it("reports a wrong link as { index, kind: prevHash }", () => {
    const entries: Array<ChainEntryEncoded> = chainOf(events)
    const elsewhere = sha256("elsewhere")
    entries[1] = rehashed(entries[1]!, { prevHash: elsewhere })
    const verdict = verifyChain(entries, genesis)
    expect(verdict).toEqual({
      ok: false,
      broken: { index: 1, kind: "prevHash", message: `entry 1 links to ${elsewhere}, but the previous hash is ${entries[0]!.hash}` }
    })
  })

  it("reports a wrong genesis as a prevHash break at index 0", () => {
    const verdict = verifyChain(chainOf(events), sha256("another contract"))
    expect(verdict.ok ? undefined : { index: verdict.broken.index, kind: verdict.broken.kind }).toEqual({ index: 0, kind: "prevHash" })
  })

  it("reports content that does not match its hash as { index, kind: hash }", () => {
    const entries: Array<ChainEntryEncoded> = chainOf(events)
    const original = entries[3]!
    entries[3] = { ...original, event: { ...original.event, port: 8443 } as ChainEntryEncoded["event"] }
    const verdict = verifyChain(entries, genesis)
    expect(verdict).toEqual({
      ok: false,
      broken: {
        index: 3,
        kind: "hash",
        message: `entry 3 claims hash ${original.hash}, but its content hashes to ${Either.getOrThrow(entryHash(entries[3]))}`
      }
    })
  })

  it("reports an unknown field added to an entry as a hash break (hashes cover what was received)", () => {
    const entries: Array<ChainEntryEncoded> = chainOf(events)
    entries[1] = { ...entries[1]!, ...{ note: "added later" } }
    const verdict = verifyChain(entries, genesis)
    expect(verdict.ok ? undefined : { index: verdict.broken.index, kind: verdict.broken.kind }).toEqual({ index: 1, kind: "hash" })
  })

  it("reports an entry earlier than its predecessor as { index, kind: ts }", () => {
    const entries: Array<ChainEntryEncoded> = chainOf(events) // entry 2 at 2 s, entry 3 at 3 s
    entries[3] = rehashed(entries[3]!, { ts: ts(1999) })
    const verdict = verifyChain(entries, genesis)
    expect(verdict).toEqual({
      ok: false,
      broken: { index: 3, kind: "ts", message: "entry 3 at 1970-01-01T00:00:01.999Z is earlier than its predecessor at 1970-01-01T00:00:02.000Z" }
    })
  })

  it("accepts equal timestamps on consecutive entries", () => {
    const entries: Array<ChainEntryEncoded> = chainOf(events)
    entries[3] = rehashed(entries[3]!, { ts: entries[2]!.ts })
    expect(verifyChain(entries, genesis)).toEqual({ ok: true, head: entries[3]!.hash, count: 4 })
  })

  it("reports an event linked in after run.completed as { index, kind: afterTerminal }", () => {
    const entries = chainOf([claimed, completed, connected(443)])
    const verdict = verifyChain(entries, genesis)
    expect(verdict).toEqual({
      ok: false,
      broken: { index: 2, kind: "afterTerminal", message: "entry 2 follows the run's terminal event run.completed" }
    })
  })

  it("reports only the first break when several entries are wrong", () => {
    const entries: Array<ChainEntryEncoded> = chainOf(events)
    entries[1] = rehashed(entries[1]!, { seq: 7 })
    entries[3] = { ...entries[3]!, hash: sha256("x") }
    const verdict = verifyChain(entries, genesis)
    expect(verdict.ok ? undefined : { index: verdict.broken.index, kind: verdict.broken.kind }).toEqual({ index: 1, kind: "seq" })
  })
})

// --- property: any chain of valid events verifies; any one changed string is caught where it is ---

const text = fc.string({ minLength: 1, maxLength: 12 })
const hashArb = fc.string({ minLength: 1, maxLength: 8 }).map(sha256)
const principal = fc.record({ kind: fc.constantFrom("human" as const, "service" as const), id: text })

const nonTerminal: fc.Arbitrary<RunEvent> = fc.oneof(
  fc.record({
    type: fc.constant("run.claimed" as const),
    runnerId: fc.constantFrom("runner-1", "runner-2.eu").map((s) => s as RunnerId),
    keyId: fc.constant(runnerKey),
    pool: fc.constantFrom("default", "gpu").map((s) => s as PoolName)
  }),
  fc.record(
    {
      type: fc.constant("network.connected" as const),
      host: text,
      port: fc.integer({ min: 0, max: 65535 }),
      decision: fc.constantFrom("allowed" as const, "blocked" as const),
      reason: text
    },
    { requiredKeys: ["type", "host", "decision", "reason"] }
  ),
  fc.record(
    {
      type: fc.constant("command.executed" as const),
      argvHash: hashArb,
      exitCode: fc.integer({ min: -255, max: 255 }),
      timedOut: fc.boolean(),
      durationMs: fc.nat()
    },
    { requiredKeys: ["type", "argvHash", "exitCode"] }
  ),
  fc.record({
    type: fc.constant("file.changed" as const),
    path: fc.constantFrom("src/index.ts", "README.md", "a/b/c.txt").map((s) => s as WorkspacePath),
    change: fc.constantFrom("added" as const, "modified" as const),
    contentHash: hashArb
  }),
  fc.record({
    type: fc.constant("policy.evaluated" as const),
    policyHash: hashArb,
    decision: fc.constantFrom("allow" as const, "ask" as const, "deny" as const),
    reasons: fc.array(text, { maxLength: 3 })
  }),
  fc.record({ type: fc.constant("consent.granted" as const), by: principal })
)

const terminal: fc.Arbitrary<RunEvent> = fc.oneof(
  fc.record({ type: fc.constant("run.completed" as const), exitCode: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ type: fc.constant("run.failed" as const), failureClass: fc.constantFrom("agent" as const, "timeout" as const), message: text }),
  fc.record({ type: fc.constant("run.cancelled" as const), by: principal, reason: text })
)

/** 1..40 events: non-terminal ones, optionally ended by one terminal event. */
const runEvents = fc
  .tuple(fc.array(nonTerminal, { minLength: 1, maxLength: 39 }), fc.option(terminal, { nil: undefined }))
  .map(([events, end]) => end === undefined ? events : [...events, end])

type Path = ReadonlyArray<string | number>

/** Paths of every string leaf in a JSON value. */
const stringLeaves = (value: unknown, at: Path = []): ReadonlyArray<Path> => {
  if (typeof value === "string") return [at]
  if (Array.isArray(value)) return value.flatMap((v: unknown, i) => stringLeaves(v, [...at, i]))
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => stringLeaves(v, [...at, k]))
  }
  return []
}

const getAt = (root: unknown, path: Path): unknown =>
  path.reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], root)

const setAt = (root: unknown, path: Path, value: unknown): void => {
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, unknown>
  parent[path.at(-1)!] = value
}

/** A different string: the last character changed (hex stays hex), or "x" for an empty one. */
const changed = (s: string): string => {
  if (s.length === 0) return "x"
  const c = s.at(-1)!
  const next = /[0-9a-f]/.test(c) ? (c === "0" ? "1" : "0") : c === "x" ? "y" : "x"
  return s.slice(0, -1) + next
}

describe("verifyChain property", () => {
  it("any chain of valid events verifies, and changing any one string field is reported at that entry", () => {
    fc.assert(
      fc.property(
        runEvents,
        fc.array(fc.nat({ max: 5000 }), { minLength: 40, maxLength: 40 }),
        fc.nat(),
        fc.nat(),
        (events, gaps, pickEntry, pickField) => {
          for (const event of events) expect(Schema.is(RunEvent)(event)).toBe(true)
          const entries: Array<ChainEntry> = []
          let now = 1_700_000_000_000
          for (const [i, event] of events.entries()) {
            now += gaps[i]!
            entries.push(link(entries.at(-1)?.hash ?? genesis, i, ts(now), event))
          }
          expect(verifyChain(entries, genesis)).toEqual({ ok: true, head: entries.at(-1)!.hash, count: events.length })

          const wire = JSON.parse(JSON.stringify(entries)) as Array<ChainEntryEncoded>
          const index = pickEntry % wire.length
          const leaves = stringLeaves(wire[index])
          const path = leaves[pickField % leaves.length]!
          setAt(wire[index], path, changed(getAt(wire[index], path) as string))

          const verdict = verifyChain(wire, genesis)
          expect(verdict.ok).toBe(false)
          if (!verdict.ok) {
            expect(verdict.broken.index, `changed ${path.join(".")} of entry ${index}`).toBe(index)
            expect(verdict.broken.kind).toBe(path[0] === "prevHash" ? "prevHash" : "hash")
          }
        }
      )
    )
  })
})
