import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { make as makeChain } from "../../src/chain/EventChain.js"
import { discloseEvent, type EventDisclosure, treeHead, verifyDisclosure } from "../../src/chain/EventsTree.js"
import { entryHash } from "../../src/chain/Link.js"
import type { ChainEntry, ChainEntryEncoded, RunEvent } from "../../src/protocol/Event.js"
import { sha256 } from "../../src/protocol/Hash.js"
import type { EventsTreeHead } from "../../src/protocol/Receipt.js"
import { sampleRun } from "../../src/testkit/SampleRun.js"

const genesis = sha256("the contract")

const connected = (i: number): RunEvent => ({
  type: "network.connected",
  host: `host-${i}.example.com`,
  port: 443,
  decision: i % 2 === 0 ? "allowed" : "blocked",
  reason: i % 2 === 0 ? "allowlisted" : "not in allowHosts"
})

/** A chain of n entries built by the EventChain service (ending with run.completed). */
const chainOf = (n: number) =>
  Effect.gen(function*() {
    const chain = yield* makeChain(genesis)
    for (let i = 0; i < n; i++) {
      yield* chain.append(i === n - 1 ? { type: "run.completed", exitCode: 0 } : connected(i))
    }
    const entries = yield* chain.entries
    return { entries, head: treeHead(entries.map((e) => e.hash)) }
  })

/** A disclosure as a verifier receives it: plain JSON data, free to be edited. */
interface WireDisclosure {
  version: string
  entry: ChainEntryEncoded
  leafIndex: number
  treeSize: number
  path: Array<string>
}

const wire = (d: EventDisclosure): WireDisclosure => JSON.parse(JSON.stringify(d)) as WireDisclosure

const refusal = (input: unknown, head: EventsTreeHead): string => {
  const result = verifyDisclosure(input, head)
  return Either.isLeft(result) ? result.left : `accepted ${JSON.stringify(input)}`
}

/** Changes one character: a hex digit to another hex digit, anything else to another letter. */
const flip = (s: string): string => {
  const c = s.at(-1)!
  const next = /[0-9a-f]/.test(c) ? (c === "0" ? "1" : "0") : c === "x" ? "y" : "x"
  return s.slice(0, -1) + next
}

const NOT_HASHING = "the disclosed entry does not hash to its stated hash"
const NO_PATH = "the audit path does not lead to the receipt's tree root"

describe("discloseEvent / verifyDisclosure round trip", () => {
  for (let n = 1; n <= 33; n++) {
    it.effect(`every event of a ${n}-entry chain verifies against the tree head`, () =>
      Effect.gen(function*() {
        const { entries, head } = yield* chainOf(n)
        expect(head).toMatchObject({ alg: "rfc9162-sha256", size: n })
        for (let i = 0; i < n; i++) {
          const d = discloseEvent(entries, i)
          expect(d).toMatchObject({ version: "warrant.disclosure.v1", leafIndex: i, treeSize: n, entry: entries[i] })
          const received = JSON.parse(JSON.stringify(d)) as unknown
          expect(verifyDisclosure(received, head)).toEqual(Either.right(received))
        }
      }))
  }

  for (const extraEvents of [0, 7, 23, 24]) {
    it.effect(`every event of sampleRun({ extraEvents: ${extraEvents} }) verifies against receipt.eventsTree`, () =>
      Effect.gen(function*() {
        const { entries, receipt } = yield* sampleRun({ extraEvents })
        expect(entries.length).toBe(9 + extraEvents)
        expect(receipt.eventsTree).toEqual(treeHead(entries.map((e) => e.hash)))
        for (let i = 0; i < entries.length; i++) {
          const received = JSON.parse(JSON.stringify(discloseEvent(entries, i))) as unknown
          expect(verifyDisclosure(received, receipt.eventsTree)).toEqual(Either.right(received))
        }
      }))
  }
})

describe("verifyDisclosure refuses", () => {
  const size = 13
  const at = 5
  const fixture = Effect.map(chainOf(size), ({ entries, head }) => ({ entries, head, d: wire(discloseEvent(entries, at)) }))

  const entryEdits: ReadonlyArray<readonly [string, (e: ChainEntryEncoded) => ChainEntryEncoded]> = [
    ["version (to a valid v1 minor)", (e) => ({ ...e, version: "warrant.event.v1.1" })],
    ["seq", (e) => ({ ...e, seq: e.seq + 1 })],
    ["ts", (e) => ({ ...e, ts: "2030-01-01T00:00:00.000Z" })],
    ["event", (e) => ({ ...e, event: { ...e.event, host: "exfil.example.com" } as ChainEntryEncoded["event"] })],
    ["prevHash", (e) => ({ ...e, prevHash: flip(e.prevHash) })],
    ["hash", (e) => ({ ...e, hash: flip(e.hash) })],
    ["an added unknown field", (e) => ({ ...e, ...{ note: "added in transit" } })]
  ]
  for (const [field, edit] of entryEdits) {
    it.effect(`an entry whose ${field} was altered: the entry does not hash`, () =>
      Effect.gen(function*() {
        const { d, head } = yield* fixture
        expect(refusal({ ...d, entry: edit(d.entry) }, head)).toBe(NOT_HASHING)
      }))
  }

  it.effect("a path with any one element flipped", () =>
    Effect.gen(function*() {
      const { d, head } = yield* fixture
      expect(d.path.length).toBe(4)
      for (let j = 0; j < d.path.length; j++) {
        const path = d.path.map((p, k) => (k === j ? flip(p) : p))
        expect(refusal({ ...d, path }, head), `element ${j}`).toBe(NO_PATH)
      }
    }))

  it.effect("a path with any one element dropped", () =>
    Effect.gen(function*() {
      const { d, head } = yield* fixture
      for (let j = 0; j < d.path.length; j++) {
        const path = d.path.filter((_, k) => k !== j)
        expect(refusal({ ...d, path }, head), `element ${j}`).toBe(NO_PATH)
      }
    }))

  it.effect("a path with one element added (at the end, at the start, a duplicate)", () =>
    Effect.gen(function*() {
      const { d, head } = yield* fixture
      const extra = sha256("extra")
      for (const path of [[...d.path, extra], [extra, ...d.path], [...d.path, d.path.at(-1)!]]) {
        expect(refusal({ ...d, path }, head)).toBe(NO_PATH)
      }
    }))

  it.effect("an empty path for a one-entry tree, with an element added", () =>
    Effect.gen(function*() {
      const { entries, head } = yield* chainOf(1)
      const d = wire(discloseEvent(entries, 0))
      expect(d.path).toEqual([])
      expect(refusal({ ...d, path: [sha256("extra")] }, head)).toBe(NO_PATH)
    }))

  it.effect("a changed leafIndex: the entry's seq disagrees with it", () =>
    Effect.gen(function*() {
      const { d, head } = yield* fixture
      expect(refusal({ ...d, leafIndex: at + 1 }, head)).toBe(`the entry has seq ${at} but is disclosed at index ${at + 1}`)
      expect(refusal({ ...d, leafIndex: 0 }, head)).toBe(`the entry has seq ${at} but is disclosed at index 0`)
    }))

  it.effect("a genuine entry offered with another position's path and leafIndex: the seq disagrees", () =>
    Effect.gen(function*() {
      const { entries, d, head } = yield* fixture
      const other = wire(discloseEvent(entries, at + 2))
      expect(refusal({ ...other, entry: d.entry }, head)).toBe(`the entry has seq ${at} but is disclosed at index ${at + 2}`)
    }))

  it.effect("an entry re-hashed with its seq moved to match another leafIndex: the path does not lead to the root", () =>
    Effect.gen(function*() {
      const { entries, d, head } = yield* fixture
      const moved = { ...d.entry, seq: at + 2 }
      const forged: ChainEntryEncoded = { ...moved, hash: Either.getOrThrow(entryHash(moved)) }
      const other = wire(discloseEvent(entries, at + 2))
      expect(refusal({ ...other, entry: forged }, head)).toBe(NO_PATH)
    }))

  it.effect("a treeSize that differs from the head's", () =>
    Effect.gen(function*() {
      const { d, head } = yield* fixture
      expect(refusal({ ...d, treeSize: size + 1 }, head)).toBe(`the proof is for a tree of ${size + 1} events; the receipt commits to ${size}`)
      expect(refusal({ ...d, treeSize: size - 1 }, head)).toBe(`the proof is for a tree of ${size - 1} events; the receipt commits to ${size}`)
    }))

  it.effect("a genuine disclosure from a shorter prefix of the chain, against the full chain's head", () =>
    Effect.gen(function*() {
      const { entries, head } = yield* fixture
      const prefix: ReadonlyArray<ChainEntry> = entries.slice(0, size - 1)
      const early = wire(discloseEvent(prefix, at))
      expect(refusal(early, head)).toBe(`the proof is for a tree of ${size - 1} events; the receipt commits to ${size}`)
    }))

  it.effect("a genuine disclosure against another chain's head of the same size", () =>
    Effect.gen(function*() {
      const { d } = yield* fixture
      const otherHead = treeHead(Array.from({ length: size }, (_, i) => sha256(`other ${i}`)))
      expect(refusal(d, otherHead)).toBe(NO_PATH)
    }))

  it.effect("a leafIndex outside the tree (entry re-hashed to match), without throwing", () =>
    Effect.gen(function*() {
      const { d, head } = yield* fixture
      const moved = { ...d.entry, seq: size }
      const forged: ChainEntryEncoded = { ...moved, hash: Either.getOrThrow(entryHash(moved)) }
      expect(refusal({ ...d, entry: forged, leafIndex: size }, head)).toBe(NO_PATH)
    }))

  for (const [label, input] of [
    ["null", null],
    ["undefined", undefined],
    ["42", 42],
    ["{}", {}],
    ["a string", "warrant.disclosure.v1"],
    ["an array", []]
  ] as const) {
    it.effect(`input that is not a disclosure (${label}) is a Left naming the object, not a throw`, () =>
      Effect.gen(function*() {
        const { head } = yield* fixture
        let result: Either.Either<EventDisclosure, string> | undefined
        expect(() => {
          result = verifyDisclosure(input, head)
        }).not.toThrow()
        expect(result !== undefined && Either.isLeft(result) ? result.left : "accepted").toMatch(/^invalid warrant\.disclosure\.v1: \$/)
      }))
  }

  it.effect("a disclosure missing its entry is a Left naming $.entry", () =>
    Effect.gen(function*() {
      const { d, head } = yield* fixture
      const { entry: _entry, ...withoutEntry } = d
      expect(refusal(withoutEntry, head)).toContain("$.entry")
    }))

  it.effect("a disclosure whose path holds a non-hash is a Left naming the element", () =>
    Effect.gen(function*() {
      const { d, head } = yield* fixture
      expect(refusal({ ...d, path: [...d.path.slice(0, 1), "not a hash", ...d.path.slice(2)] }, head)).toContain("$.path[1]")
    }))

  it.effect("a disclosure of a future major version is refused as unsupported", () =>
    Effect.gen(function*() {
      const { d, head } = yield* fixture
      expect(refusal({ ...d, version: "warrant.disclosure.v2" }, head)).toBe(
        "unsupported warrant.disclosure version \"warrant.disclosure.v2\": this build understands warrant.disclosure.v1; upgrade warrant to read it"
      )
    }))
})
