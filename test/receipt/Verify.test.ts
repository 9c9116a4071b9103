import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fc from "fast-check"
import { canonicalize } from "../../src/protocol/Canonical.js"
import type { ProblemCode } from "../../src/receipt/Problem.js"
import { type Verification, verifyBundle } from "../../src/receipt/Verify.js"
import { sampleRun } from "../../src/testkit/SampleRun.js"
import { at, isObject, type Key, type Path, pathsOf, pick, put, setAt, wire } from "../support/WireJson.js"



const codes = (result: Verification) => result.problems.map((p) => `${p.code} @ ${p.where}`)

/** A fresh valid bundle as JSON, plus the run that produced it. */
const freshBundle = Effect.map(sampleRun(), (run) => ({ ...run, json: wire(run.bundle) }))

const canonical = (value: unknown): string => {
  const text = canonicalize(value)
  if (Either.isLeft(text)) throw new Error(`not JSON data: ${text.left.message}`)
  return text.right
}

/** A nested array `depth` levels deep: [[[...[]...]]]. */
const nested = (depth: number): unknown => {
  let value: unknown = []
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

// Compile-time exhaustive: adding or removing a ProblemCode breaks this object.
const problemCodes: Record<ProblemCode, true> = {
  "bundle.malformed": true,
  "bundle.unsupported-version": true,
  "key.id-mismatch": true,
  "key.missing": true,
  "trust.untrusted-key": true,
  "contract.signature-missing": true,
  "contract.signature-invalid": true,
  "contract.issuer-mismatch": true,
  "contract.used-outside-validity": true,
  "chain.seq": true,
  "chain.prevHash": true,
  "chain.hash": true,
  "chain.ts": true,
  "chain.afterTerminal": true,
  "chain.unterminated": true,
  "receipt.run-mismatch": true,
  "receipt.contract-hash-mismatch": true,
  "receipt.head-mismatch": true,
  "receipt.count-mismatch": true,
  "receipt.tree-mismatch": true,
  "receipt.summary-mismatch": true,
  "receipt.runner-mismatch": true,
  "receipt.dishonest-tier": true,
  "receipt.signature-missing": true,
  "receipt.signature-invalid": true,
  "receipt.countersignature-missing": true,
  "receipt.countersignature-invalid": true,
  "receipt.countersigner-mismatch": true,
  "receipt.unexpected-signature": true
}
const isProblemCode = (code: string): boolean => Object.prototype.hasOwnProperty.call(problemCodes, code)

const noSigners = { contract: null, receipt: null, countersignature: null }
const notABundle = "a bundle is a JSON object with contract, events, receipt and keys"

/** Calls verifyBundle and turns an escaped exception into a failed assertion that says so. */
const verify = (input: unknown): Verification => {
  let result: Verification | undefined
  expect(() => {
    result = verifyBundle(input)
  }).not.toThrow()
  return result!
}

describe("verifyBundle on inputs that are not bundles", () => {
  const notObjects: ReadonlyArray<readonly [string, unknown]> = [
    ["undefined", undefined],
    ["null", null],
    ["0", 0],
    ["\"\"", ""],
    ["the string \"{}\"", "{}"],
    ["[]", []]
  ]
  for (const [label, input] of notObjects) {
    it(`${label} is one bundle.malformed problem at $`, () => {
      expect(verify(input)).toEqual({
        valid: false,
        problems: [{ where: "$", code: "bundle.malformed", message: notABundle }],
        signers: noSigners,
        trustChecked: false
      })
    })
  }

  it("{} names each missing required field", () => {
    // contract and receipt are Schema.Unknown in the outer shell, so their absence shows up only as missing fields inside.
    expect(verify({})).toEqual({
      valid: false,
      problems: [
        { where: "$.version", code: "bundle.malformed", message: "is missing" },
        { where: "$.events", code: "bundle.malformed", message: "is missing" },
        { where: "$.keys", code: "bundle.malformed", message: "is missing" }
      ],
      signers: noSigners,
      trustChecked: false
    })
  })

  it("trustChecked reflects the options even for garbage input", () => {
    expect(verifyBundle(null, { trustedKeys: [] })).toEqual({
      valid: false,
      problems: [{ where: "$", code: "bundle.malformed", message: notABundle }],
      signers: noSigners,
      trustChecked: true
    })
  })
})

describe("verifyBundle on malformed bundles", () => {
  it.effect("events that are not an array", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const result = verify(setAt(json, ["events"], { 0: "x" }))
      expect(result.valid).toBe(false)
      expect(result.problems).toEqual([
        { where: "$.events", code: "bundle.malformed", message: "Expected ReadonlyArray<unknown>, actual {\"0\":\"x\"}" }
      ])
    }))

  it.effect("receipt: null", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const result = verify(setAt(json, ["receipt"], null))
      expect(result.valid).toBe(false)
      expect(codes(result)).toEqual(["bundle.malformed @ $.receipt"])
      expect(result.problems[0]!.message.endsWith(", actual null")).toBe(true)
      // The contract and chain are still checked and named.
      expect(result.signers.contract).not.toBeNull()
    }))

  it.effect("keys: {}", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const result = verify(setAt(json, ["keys"], {}))
      expect(result.valid).toBe(false)
      expect(result.problems).toEqual([
        { where: "$.keys", code: "bundle.malformed", message: "Expected ReadonlyArray<unknown>, actual {}" }
      ])
    }))

  it.effect("a 10,000-level nested array in a string field is reported at that field", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const result = verify(setAt(json, ["contract", "task", "prompt"], nested(10_000)))
      expect(result.valid).toBe(false)
      // Today Effect's issue formatter overflows the stack rendering "actual [[[[…", the decoder
      // throws, and the catch-all answers "bundle.malformed @ $" with a stack trace as its message.
      expect(codes(result)).toEqual(["bundle.malformed @ $.contract.task.prompt"])
    }))

  it.effect("a 10,000-level nested array in an unknown event field breaks that entry's hash", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const result = verify(setAt(json, ["events", 3, "event", "note"], nested(10_000)))
      expect(result.valid).toBe(false)
      // Unknown fields are hashed, not dropped; one this deep cannot be canonicalised at all.
      expect(codes(result)).toEqual(["chain.hash @ $.events[3]"])
      expect(result.problems[0]!.message).toContain("nested deeper than 256 levels")
    }))

  it.effect("a lone surrogate in an unknown contract field makes the contract unhashable, said at that field", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const result = verify(setAt(json, ["contract", "note"], JSON.parse("\"\\ud800\"")))
      expect(result.valid).toBe(false)
      expect(codes(result)).toEqual([
        "bundle.malformed @ $.contract.note",
        "contract.signature-invalid @ $.contract.signatures[0]"
      ])
    }))

  it.effect("a 1 MB string in a length-limited field", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const result = verify(setAt(json, ["events", 5, "event", "reason"], "a".repeat(1 << 20)))
      expect(result.valid).toBe(false)
      expect(codes(result)).toEqual(["bundle.malformed @ $.events[5].event.reason"])
      expect(result.problems[0]!.message.startsWith("Expected a string at most 4096 character(s) long, actual \"aaaa")).toBe(true)
    }))

  it.effect("a 1 MB string in a signed free-text field breaks the contract signature and detaches the chain", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const result = verify(setAt(json, ["contract", "task", "prompt"], "a".repeat(1 << 20)))
      expect(codes(result)).toEqual([
        "contract.signature-invalid @ $.contract.signatures[0]",
        "chain.prevHash @ $.events[0]",
        "receipt.contract-hash-mismatch @ $.receipt.contractHash"
      ])
    }))

  it("an object whose only own key is __proto__ is malformed and pollutes nothing", () => {
    const input = JSON.parse("{\"__proto__\": {\"version\": \"warrant.bundle.v2\", \"contract\": {}, \"events\": [], \"receipt\": {}, \"keys\": []}}")
    expect(Object.keys(input)).toEqual(["__proto__"])
    const result = verify(input)
    expect(codes(result)).toEqual(["bundle.malformed @ $.version", "bundle.malformed @ $.events", "bundle.malformed @ $.keys"])
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, "version")).toBe(false)
    expect(({} as Record<string, unknown>)["version"]).toBeUndefined()
  })

  it.effect("a __proto__ own key inside the contract is hashed like any other field", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const input = JSON.parse(JSON.stringify(json).replace("\"task\":", "\"__proto__\":{\"x\":1},\"task\":"))
      expect(Object.keys(at(input, ["contract"]) as object)).toContain("__proto__")
      expect(codes(verify(input))).toEqual([
        "contract.signature-invalid @ $.contract.signatures[0]",
        "chain.prevHash @ $.events[0]",
        "receipt.contract-hash-mismatch @ $.receipt.contractHash"
      ])
    }))

  it.effect("a getter that throws on the bundle itself", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      Object.defineProperty(json, "contract", { enumerable: true, get: () => { throw new Error("boom") } })
      expect(verify(json)).toEqual({
        valid: false,
        problems: [{ where: "$", code: "bundle.malformed", message: "verification could not complete: Error: boom" }],
        signers: noSigners,
        trustChecked: false
      })
    }))

  it.effect("a getter that throws deep inside an event", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      Object.defineProperty(at(json, ["events", 2]), "ts", { enumerable: true, get: () => { throw new Error("boom") } })
      const result = verify(json)
      expect(result.valid).toBe(false)
      expect(result.problems).toEqual([{ where: "$", code: "bundle.malformed", message: "verification could not complete: Error: boom" }])
    }))

  it.effect("an event tag that is an object with a non-callable toString is reported at that tag", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const result = verify(setAt(json, ["events", 3, "event", "type"], JSON.parse("{\"toString\":0}")))
      expect(result.valid).toBe(false)
      // Today Schema's union search calls String() on the tag, which throws a TypeError; the
      // catch-all answers "bundle.malformed @ $: verification could not complete: TypeError ...".
      expect(codes(result)).toEqual(["bundle.malformed @ $.events[3].event.type"])
    }))
})

describe("verifyBundle on unsupported versions", () => {
  const unsupported = (object: string, found: string) =>
    `unsupported warrant.${object} version "${found}": this build understands warrant.${object}.v1; upgrade warrant to read it`

  it.effect("a warrant.bundle.v2 bundle is one problem at $.version", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      expect(verify(setAt(json, ["version"], "warrant.bundle.v2")).problems).toEqual([
        { where: "$.version", code: "bundle.unsupported-version", message: unsupported("bundle", "warrant.bundle.v2") }
      ])
    }))

  it.effect("a v2 contract inside a v1 bundle is one problem at $.contract.version", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      expect(verify(setAt(json, ["contract", "version"], "warrant.contract.v2")).problems).toEqual([
        { where: "$.contract.version", code: "bundle.unsupported-version", message: unsupported("contract", "warrant.contract.v2") }
      ])
    }))

  it.effect("a warrant.event.v9 event at index 3 is one problem at $.events[3].version", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      expect(verify(setAt(json, ["events", 3, "version"], "warrant.event.v9")).problems).toEqual([
        { where: "$.events[3].version", code: "bundle.unsupported-version", message: unsupported("event", "warrant.event.v9") }
      ])
    }))

  it.effect("a v2 receipt is one problem at $.receipt.version", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      expect(verify(setAt(json, ["receipt", "version"], "warrant.receipt.v2")).problems).toEqual([
        { where: "$.receipt.version", code: "bundle.unsupported-version", message: unsupported("receipt", "warrant.receipt.v2") }
      ])
    }))

  it.effect("a v1 minor-revision bundle version is accepted (the bundle envelope is not signed)", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const result = verify(setAt(json, ["version"], "warrant.bundle.v1.3"))
      expect(result.valid).toBe(true)
      expect(result.problems).toEqual([])
    }))
})

describe("unknown fields are hashed, not dropped", () => {
  it.effect("an unknown field added to an event after signing is chain.hash at that index", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      expect(codes(verify(setAt(json, ["events", 4, "event", "note"], "x")))).toEqual(["chain.hash @ $.events[4]"])
    }))

  it.effect("an unknown field added to an entry (outside its event) after signing is chain.hash at that index", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      expect(codes(verify(setAt(json, ["events", 6, "annotations"], { by: "someone" })))).toEqual(["chain.hash @ $.events[6]"])
    }))

  it.effect("an event relabelled as a minor revision after signing is chain.hash at that index", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      expect(codes(verify(setAt(json, ["events", 4, "version"], "warrant.event.v1.3")))).toEqual(["chain.hash @ $.events[4]"])
    }))

  it.effect("an unknown field added to the receipt after signing voids both receipt signatures", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      expect(codes(verify(setAt(json, ["receipt", "note"], "x")))).toEqual([
        "receipt.signature-invalid @ $.receipt.signatures[0]",
        "receipt.countersignature-invalid @ $.receipt.signatures[1]"
      ])
    }))
})

// --- Fuzz: any change to a signed bundle is caught, and verification always answers ---

type Mutation =
  | { readonly kind: "replace"; readonly pick: number; readonly value: unknown }
  | { readonly kind: "delete"; readonly pick: number }
  | { readonly kind: "splice"; readonly pick: number; readonly duplicate: boolean }
  | { readonly kind: "flip"; readonly pick: number; readonly index: number; readonly char: string }



const last = (path: Path): Key | undefined => path[path.length - 1]

/** Applies one mutation in place; returns the (possibly new) root. */
const mutate = (root: unknown, m: Mutation): unknown => {
  const paths = pathsOf(root)
  switch (m.kind) {
    case "replace": {
      const path = pick(paths, m.pick)!
      const value = structuredClone(m.value)
      if (path.length === 0) return value
      put(at(root, path.slice(0, -1)), last(path)!, value)
      return root
    }
    case "delete": {
      const path = pick(paths.filter((p) => typeof last(p) === "string"), m.pick)
      if (path !== undefined) delete (at(root, path.slice(0, -1)) as Record<string, unknown>)[last(path) as string]
      return root
    }
    case "splice": {
      const path = pick(paths.filter((p) => typeof last(p) === "number"), m.pick)
      if (path === undefined) return root
      const array = at(root, path.slice(0, -1)) as Array<unknown>
      const index = last(path) as number
      if (m.duplicate) array.splice(index, 0, structuredClone(array[index]))
      else array.splice(index, 1)
      return root
    }
    case "flip": {
      const path = pick(paths.filter((p) => typeof at(root, p) === "string"), m.pick)
      if (path === undefined) return root
      const s = at(root, path) as string
      const i = s.length === 0 ? 0 : m.index % s.length
      const next = s[i] === m.char ? String.fromCharCode(m.char.charCodeAt(0) ^ 1) : m.char
      const flipped = s.slice(0, i) + next + s.slice(i + 1)
      if (path.length === 0) return flipped
      put(at(root, path.slice(0, -1)), last(path)!, flipped)
      return root
    }
  }
}

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("replace" as const), pick: fc.nat(), value: fc.jsonValue() }),
  fc.record({ kind: fc.constant("delete" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("splice" as const), pick: fc.nat(), duplicate: fc.boolean() }),
  fc.record({
    kind: fc.constant("flip" as const),
    pick: fc.nat(),
    index: fc.nat(),
    char: fc.oneof(fc.constantFrom("0", "1", "a", "f", "g", "A", ".", " ", "\u0000", "\u00e9"), fc.string({ minLength: 1, maxLength: 1 }))
  })
)

/**
 * What the signatures and hashes cover: everything but the bundle's `keys`, which is an
 * unsigned bag of public keys where a repeated record is the same bag. (A record that is
 * removed or altered still matters, and is still compared.)
 */
const signedView = (bundle: unknown): string => {
  if (!isObject(bundle) || !Array.isArray(bundle["keys"])) return canonical(bundle)
  const keys = [...new Set(bundle["keys"].map((k) => canonical(k)))].sort()
  return canonical({ ...bundle, keys })
}

describe("verifyBundle under random mutation", () => {
  it.effect("never throws, and any change to the signed content is invalid with well-formed problems (400 runs)", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const original = signedView(json)
      fc.assert(
        fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (ms) => {
          const mutated = ms.reduce(mutate, structuredClone(json))
          const result = verify(mutated)
          for (const p of result.problems) {
            expect(p.where).toMatch(/^\$/)
            expect(isProblemCode(p.code)).toBe(true)
            expect(p.message.length).toBeGreaterThan(0)
          }
          expect(result.valid).toBe(result.problems.length === 0)
          if (signedView(mutated) !== original) {
            expect({ valid: result.valid, anyProblem: result.problems.length > 0 }).toEqual({ valid: false, anyProblem: true })
          } else {
            expect(codes(result)).toEqual([])
          }
        }),
        { numRuns: 400 }
      )
    }))

  it.effect("a repeated key record changes nothing (the reason the fuzz compares keys as a set)", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const keys = at(json, ["keys"]) as ReadonlyArray<unknown>
      const result = verify(setAt(json, ["keys"], [...keys, keys[0]]))
      expect(result.valid).toBe(true)
      expect(result.problems).toEqual([])
    }))
})

// --- Stability ---

const deepFreeze = <A>(value: A): A => {
  if (typeof value === "object" && value !== null) {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
    Object.freeze(value)
  }
  return value
}

describe("verifyBundle stability", () => {
  it.effect("verifying the same valid bundle twice gives deep-equal results", () =>
    Effect.gen(function*() {
      const { json, plane, runner } = yield* freshBundle
      const first = verify(json)
      const second = verify(json)
      expect(second).toEqual(first)
      expect(first).toEqual({
        valid: true,
        problems: [],
        signers: { contract: plane.keyId, receipt: runner.keyId, countersignature: plane.keyId },
        trustChecked: false
      })
    }))

  it.effect("verifying the same invalid bundle twice gives deep-equal results", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const input = setAt(json, ["events", 4, "event", "note"], "x")
      expect(verify(input)).toEqual(verify(input))
    }))

  it.effect("verification does not mutate its input", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const before = JSON.stringify(json)
      verify(json)
      expect(JSON.stringify(json)).toBe(before)
    }))

  it.effect("a deep-frozen bundle verifies exactly like a mutable one", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const expected = verify(wire(json))
      const frozen = deepFreeze(wire(json))
      expect(Object.isFrozen(at(frozen, ["events", 3, "event"]))).toBe(true)
      expect(verify(frozen)).toEqual(expected)
      expect(expected.valid).toBe(true)
    }))

  it.effect("a deep-frozen invalid bundle verifies exactly like a mutable one", () =>
    Effect.gen(function*() {
      const { json } = yield* freshBundle
      const input = setAt(json, ["receipt", "eventCount"], 99)
      const expected = verify(wire(input))
      expect(verify(deepFreeze(wire(input)))).toEqual(expected)
      expect(codes(expected)).toEqual([
        "receipt.signature-invalid @ $.receipt.signatures[0]",
        "receipt.countersignature-invalid @ $.receipt.signatures[1]",
        "receipt.count-mismatch @ $.receipt.eventCount"
      ])
    }))
})
