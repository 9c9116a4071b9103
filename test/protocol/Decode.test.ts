import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Effect, Either, FastCheck, Schema } from "effect"
import * as fc from "fast-check"
import { Bundle, decodeBundle } from "../../src/protocol/Bundle.js"
import { Contract, decodeContract } from "../../src/protocol/Contract.js"
import type { ProtocolDecodeError, UnsupportedVersion } from "../../src/protocol/Decode.js"
import { ChainEntry, decodeChainEntry } from "../../src/protocol/Event.js"
import { decodeManifest, Manifest } from "../../src/protocol/Manifest.js"
import { decodePolicy } from "../../src/protocol/Policy.js"
import { decodeReceipt, Receipt } from "../../src/protocol/Receipt.js"
import { fastValidator } from "../../src/protocol/Validator.js"
import { samplePolicy, sampleRun } from "../../src/testkit/SampleRun.js"
import { at, isObject, type Path, pathsOf, pick, put, setAt, wire } from "../support/WireJson.js"

type Decoder = (input: unknown) => Either.Either<unknown, ProtocolDecodeError | UnsupportedVersion>


/** A copy of `root` with several values replaced. */
const setAll = (root: unknown, changes: ReadonlyArray<readonly [Path, unknown]>): unknown =>
  changes.reduce<unknown>((acc, [path, value]) => setAt(acc, path, value), root)

const decodedOrThrow = (result: Either.Either<unknown, ProtocolDecodeError | UnsupportedVersion>): unknown => {
  if (Either.isLeft(result)) throw new Error(`expected a decoded value, got: ${result.left.message}`)
  return result.right
}

const decodeError = (result: Either.Either<unknown, ProtocolDecodeError | UnsupportedVersion>): ProtocolDecodeError => {
  if (Either.isRight(result)) throw new Error("expected a ProtocolDecodeError, but the input decoded")
  if (result.left._tag !== "ProtocolDecodeError") throw new Error(`expected a ProtocolDecodeError, got ${result.left._tag}: ${result.left.message}`)
  return result.left
}

const unsupported = (result: Either.Either<unknown, ProtocolDecodeError | UnsupportedVersion>): UnsupportedVersion => {
  if (Either.isRight(result)) throw new Error("expected UnsupportedVersion, but the input decoded")
  if (result.left._tag !== "UnsupportedVersion") throw new Error(`expected UnsupportedVersion, got ${result.left._tag}: ${result.left.message}`)
  return result.left
}

/** Issues as plain data (DecodeIssue is a Schema.Class). */
const issues = (result: Either.Either<unknown, ProtocolDecodeError | UnsupportedVersion>) =>
  decodeError(result).issues.map((i) => ({ path: i.path, message: i.message }))

/** The wire objects of one fresh sample run. */
const samples = Effect.map(sampleRun(), (run) => {
  const bundle = wire(run.bundle)
  return {
    bundle,
    contract: wire(run.contract),
    receipt: wire(run.receipt),
    entries: wire(run.entries) as ReadonlyArray<unknown>,
    manifest: wire(run.contract.workspace),
    policy: wire(samplePolicy)
  }
})
type Samples = Effect.Effect.Success<typeof samples>

const commandIndex = 3 // sampleEvents: claimed, materialized, attested, executed, ...

// --- Per decoder: a valid object, two bad fields at different depths, non-objects ---

interface DecoderCase {
  readonly name: string
  readonly decode: Decoder
  readonly valid: (s: Samples) => unknown
  readonly bad: ReadonlyArray<readonly [Path, unknown]>
  readonly expected: ReadonlyArray<{ readonly path: string; readonly message: string }>
}

const decoderCases: ReadonlyArray<DecoderCase> = [
  {
    name: "decodeContract",
    decode: decodeContract,
    valid: (s) => s.contract,
    bad: [[["runId"], "run 1"], [["execution", "log", "maxBytes"], -1]],
    expected: [
      { path: "$.runId", message: "expected a run id: 1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit" },
      { path: "$.execution.log.maxBytes", message: "Expected a positive number, actual -1" }
    ]
  },
  {
    name: "decodeReceipt",
    decode: decodeReceipt,
    valid: (s) => s.receipt,
    bad: [[["runId"], "run 1"], [["workspaceOut", "artifactHashes", 0], "sha256:XYZ"]],
    expected: [
      { path: "$.runId", message: "expected a run id: 1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit" },
      { path: "$.workspaceOut.artifactHashes[0]", message: "expected \"sha256:\" followed by 64 lowercase hex characters" }
    ]
  },
  {
    name: "decodeManifest",
    decode: decodeManifest,
    valid: (s) => s.manifest,
    bad: [[["deniedPatterns", 0], 7], [["files", 0, "size"], 1.5]],
    // Issues come in schema field order (files before deniedPatterns), not in input order.
    expected: [
      { path: "$.files[0].size", message: "Expected an integer, actual 1.5" },
      { path: "$.deniedPatterns[0]", message: "Expected string, actual 7" }
    ]
  },
  {
    name: "decodePolicy",
    decode: decodePolicy,
    valid: (s) => s.policy,
    bad: [[["pools", 0], "no pool"], [["network", "allowHosts", 0], ""]],
    expected: [
      { path: "$.pools[0]", message: "expected a pool name: 1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit" },
      { path: "$.network.allowHosts[0]", message: "Expected a string at least 1 character(s) long, actual \"\"" }
    ]
  },
  {
    name: "decodeChainEntry",
    decode: decodeChainEntry,
    valid: (s) => s.entries[commandIndex],
    bad: [[["seq"], -1], [["event", "exitCode"], 1.5]],
    expected: [
      { path: "$.seq", message: "Expected a non-negative number, actual -1" },
      { path: "$.event.exitCode", message: "Expected an integer, actual 1.5" }
    ]
  },
  {
    name: "decodeBundle",
    decode: decodeBundle,
    valid: (s) => s.bundle,
    bad: [[["contract", "runId"], ""], [["events", commandIndex, "event", "exitCode"], 1.5]],
    expected: [
      { path: "$.contract.runId", message: "expected a run id: 1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit" },
      { path: "$.events[3].event.exitCode", message: "Expected an integer, actual 1.5" }
    ]
  }
]

const nonObjects: ReadonlyArray<readonly [string, unknown]> = [["null", null], ["7", 7], ["\"x\"", "x"], ["[]", []]]

describe("protocol decoders", () => {
  for (const c of decoderCases) {
    describe(c.name, () => {
      it.effect("decodes a valid object to an equal value", () =>
        Effect.gen(function*() {
          const s = yield* samples
          const input = c.valid(s)
          expect(decodedOrThrow(c.decode(input))).toEqual(input)
        }))

      it.effect(`names both bad fields: ${c.expected.map((e) => e.path).join(" and ")}`, () =>
        Effect.gen(function*() {
          const s = yield* samples
          const result = c.decode(setAll(c.valid(s), c.bad))
          expect(issues(result)).toEqual(c.expected)
          const message = decodeError(result).message
          for (const e of c.expected) expect(message).toContain(`${e.path}: ${e.message}`)
        }))

      for (const [label, value] of nonObjects) {
        it(`refuses ${label} with one issue at $`, () => {
          const found = issues(c.decode(value))
          expect(found.map((i) => i.path)).toEqual(["$"])
          expect(found[0]!.message).toBe(`Expected an object, actual ${label}`)
        })
      }
    })
  }
})

describe("one issue per bad field", () => {
  // With errors: "all", Effect's ArrayFormatter reports a failed union once per member; an
  // optional field's type side is `X | undefined`, so it is a union too.
  it.effect("a bad value in an optional field is one issue, not one per member of `X | undefined`", () =>
    Effect.gen(function*() {
      const { policy } = yield* samples
      expect(issues(decodePolicy(setAt(policy, ["budget", "maxTimeoutMs"], 0)))).toEqual([
        { path: "$.budget.maxTimeoutMs", message: "Expected a positive number, actual 0" }
      ])
    }))

  it.effect("a bad value in a literal union is one issue, not one per literal", () =>
    Effect.gen(function*() {
      const { receipt } = yield* samples
      expect(issues(decodeReceipt(setAt(receipt, ["status"], "done"))).map((i) => i.path)).toEqual(["$.status"])
    }))
})

describe("versions", () => {
  for (const found of ["warrant.contract.v2", "warrant.contract.v10"]) {
    it.effect(`${found} is UnsupportedVersion, not a field error`, () =>
      Effect.gen(function*() {
        const { contract } = yield* samples
        const error = unsupported(decodeContract(setAt(contract, ["version"], found)))
        expect({ tag: error._tag, object: error.object, found: error.found, supported: error.supported }).toEqual({
          tag: "UnsupportedVersion",
          object: "warrant.contract",
          found,
          supported: "warrant.contract.v1"
        })
        expect(error.message).toBe(
          `unsupported warrant.contract version "${found}": this build understands warrant.contract.v1; upgrade warrant to read it`
        )
      }))
  }

  it("a future major version is refused even when the rest of the object is garbage", () => {
    const error = unsupported(decodeContract({ version: "warrant.contract.v2", runId: 7 }))
    expect(error.found).toBe("warrant.contract.v2")
  })

  it.effect("warrant.event.v2 on a chain entry is UnsupportedVersion", () =>
    Effect.gen(function*() {
      const { entries } = yield* samples
      const error = unsupported(decodeChainEntry(setAt(entries[0], ["version"], "warrant.event.v2")))
      expect({ object: error.object, found: error.found, supported: error.supported }).toEqual({
        object: "warrant.event",
        found: "warrant.event.v2",
        supported: "warrant.event.v1"
      })
    }))

  it.effect("warrant.bundle.v3 on a bundle is UnsupportedVersion", () =>
    Effect.gen(function*() {
      const { bundle } = yield* samples
      const error = unsupported(decodeBundle(setAt(bundle, ["version"], "warrant.bundle.v3")))
      expect({ object: error.object, found: error.found, supported: error.supported }).toEqual({
        object: "warrant.bundle",
        found: "warrant.bundle.v3",
        supported: "warrant.bundle.v1"
      })
    }))

  it.effect("a v1 minor revision (warrant.contract.v1.3) decodes and keeps its version", () =>
    Effect.gen(function*() {
      const { contract } = yield* samples
      const input = setAt(contract, ["version"], "warrant.contract.v1.3")
      expect(decodedOrThrow(decodeContract(input))).toEqual(input)
    }))

  it.effect("a receipt's version on a contract is a field error at $.version, not UnsupportedVersion", () =>
    Effect.gen(function*() {
      const { contract } = yield* samples
      expect(issues(decodeContract(setAt(contract, ["version"], "warrant.receipt.v1")))).toEqual([
        { path: "$.version", message: "expected \"warrant.contract.v1\"" }
      ])
    }))

  it.effect("a malformed minor revision (warrant.contract.v1.x) is a field error at $.version", () =>
    Effect.gen(function*() {
      const { contract } = yield* samples
      expect(issues(decodeContract(setAt(contract, ["version"], "warrant.contract.v1.x")))).toEqual([
        { path: "$.version", message: "expected \"warrant.contract.v1\"" }
      ])
    }))

  it.effect("a missing version is a field error at $.version", () =>
    Effect.gen(function*() {
      const { receipt } = yield* samples
      const input = wire(receipt) as Record<string, unknown>
      delete input["version"]
      expect(issues(decodeReceipt(input))).toEqual([{ path: "$.version", message: "is missing" }])
    }))
})

describe("unknown fields", () => {
  it.effect("are ignored at the top level and inside execution, and absent from the decoded contract", () =>
    Effect.gen(function*() {
      const { contract } = yield* samples
      const input = setAll(contract, [[["addedInV1_3"], { any: "thing" }], [["execution", "sandboxProfile"], "strict"]])
      const decoded = decodedOrThrow(decodeContract(input))
      expect(decoded).toEqual(contract)
      expect(Object.keys(decoded as object)).not.toContain("addedInV1_3")
      expect(Object.keys(at(decoded, ["execution"]) as object)).not.toContain("sandboxProfile")
    }))

  it.effect("are ignored inside an event and absent from the decoded entry", () =>
    Effect.gen(function*() {
      const { entries } = yield* samples
      const entry = entries[commandIndex]
      const input = setAll(entry, [[["event", "note"], "x"], [["annotations"], [1, 2]]])
      const decoded = decodedOrThrow(decodeChainEntry(input))
      expect(decoded).toEqual(entry)
      expect(Object.keys(at(decoded, ["event"]) as object)).not.toContain("note")
    }))

  it.effect("are ignored deep inside a bundle", () =>
    Effect.gen(function*() {
      const { bundle } = yield* samples
      const input = setAll(bundle, [
        [["events", 0, "event", "hostname"], "box-1"],
        [["receipt", "runner", "cpu"], "arm64"],
        [["keys", 0, "comment"], "plane"]
      ])
      expect(decodedOrThrow(decodeBundle(input))).toEqual(bundle)
    }))
})

// --- Field rules, checked where the field sits in a real contract, so the path is exact ---

interface FieldCase {
  readonly field: string
  readonly path: Path
  readonly where: string
  readonly rejects: ReadonlyArray<readonly [string, string]> // [input, message]
  readonly accepts: ReadonlyArray<string>
}

const timestampShape = "expected a UTC timestamp like 2026-01-31T12:00:00.000Z"
const calendar = "expected a real calendar instant"
const sha256Message = "expected \"sha256:\" followed by 64 lowercase hex characters"
const keyIdMessage = "expected a key id: \"ed25519:\" followed by 64 lowercase hex characters"
const pathMessage = "expected a workspace-relative path (not absolute, no '..' segment, no NUL or backslash)"
const runIdMessage = "expected a run id: 1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit"
const secretMessage = "expected a secret name: 1-128 characters of A-Z a-z 0-9 _ . - starting with a letter or _"
const hex64 = "0123456789abcdef".repeat(4)

const fieldCases: ReadonlyArray<FieldCase> = [
  {
    field: "Timestamp",
    path: ["issuedAt"],
    where: "$.issuedAt",
    rejects: [
      ["2026-02-30T00:00:00.000Z", calendar],
      ["2026-13-01T00:00:00.000Z", calendar],
      ["2026-01-01T24:00:00.000Z", calendar],
      ["2025-02-29T00:00:00.000Z", calendar],
      ["1900-02-29T00:00:00.000Z", calendar],
      ["2026-00-10T00:00:00.000Z", calendar],
      ["2026-01-00T00:00:00.000Z", calendar],
      ["2026-04-31T00:00:00.000Z", calendar],
      ["2026-01-01T23:60:00.000Z", calendar],
      ["2026-01-01T23:59:60.000Z", calendar],
      ["2026-01-01T01:00:00.000+01:00", timestampShape],
      ["2026-01-01T00:00:00Z", timestampShape],
      ["2026-01-01T00:00:00.000z", timestampShape],
      ["2026-01-01 00:00:00.000Z", timestampShape]
    ],
    accepts: ["2024-02-29T23:59:59.999Z", "2000-02-29T00:00:00.000Z", "2026-12-31T23:59:59.999Z"]
  },
  {
    field: "Sha256",
    path: ["policyHash"],
    where: "$.policyHash",
    rejects: [
      [`sha256:${hex64.toUpperCase()}`, sha256Message],
      [hex64, sha256Message],
      [`sha256:${hex64.slice(1)}`, sha256Message],
      [`sha256:${hex64}0`, sha256Message],
      [`SHA256:${hex64}`, sha256Message]
    ],
    accepts: [`sha256:${hex64}`]
  },
  {
    field: "KeyId",
    path: ["issuer", "keyId"],
    where: "$.issuer.keyId",
    rejects: [
      [`ed25519:${hex64.toUpperCase()}`, keyIdMessage],
      [hex64, keyIdMessage],
      [`ed25519:${hex64.slice(1)}`, keyIdMessage],
      [`ecdsa:${hex64}`, keyIdMessage],
      [`ed25519: ${hex64.slice(1)}`, keyIdMessage]
    ],
    accepts: [`ed25519:${hex64}`]
  },
  {
    field: "WorkspacePath",
    path: ["execution", "cwd"],
    where: "$.execution.cwd",
    rejects: [
      ["/etc/passwd", pathMessage],
      ["../x", pathMessage],
      ["a/../b", pathMessage],
      ["a/..", pathMessage],
      ["a\\b", pathMessage],
      ["a\u0000b", pathMessage],
      ["", pathMessage],
      ["a//b", pathMessage],
      ["/", pathMessage]
    ],
    accepts: ["a/b.txt", ".", "dir/", "..hidden", "a/.../b"]
  },
  {
    field: "RunId",
    path: ["runId"],
    where: "$.runId",
    rejects: [
      ["run 1", runIdMessage],
      [" run", runIdMessage],
      ["r".repeat(129), runIdMessage],
      ["", runIdMessage],
      ["-run", runIdMessage],
      ["run/1", runIdMessage]
    ],
    accepts: ["r".repeat(128), "run-1", "0:a.b_c"]
  },
  {
    field: "SecretName",
    path: ["secrets", 0, "name"],
    where: "$.secrets[0].name",
    rejects: [
      ["A=B", secretMessage],
      ["1TOKEN", secretMessage],
      ["", secretMessage],
      ["a/b", secretMessage],
      ["S".repeat(129), secretMessage]
    ],
    accepts: ["NPM_TOKEN", "_x", "github.token-1", "S".repeat(128)]
  }
]

/** The sample contract with one secret grant, so `secrets[0].name` exists. */
const contractWithSecret = (contract: unknown) => setAt(contract, ["secrets"], [{ name: "NPM_TOKEN", scope: "run" }])

describe("field rules", () => {
  it.effect("an env var name that is not one is an issue naming it, not silently dropped", () =>
    Effect.gen(function*() {
      const { contract } = yield* samples
      expect(issues(decodeContract(setAt(contract, ["execution", "env", "vars"], { CI: "1", "LD_PRELOAD=x": "y" })))).toEqual([
        { path: "$.execution.env.vars", message: "not environment variable names: \"LD_PRELOAD=x\"" }
      ])
    }))

  for (const f of fieldCases) {
    describe(f.field, () => {
      for (const [value, message] of f.rejects) {
        it.effect(`rejects ${JSON.stringify(value).slice(0, 60)}`, () =>
          Effect.gen(function*() {
            const { contract } = yield* samples
            const input = setAt(contractWithSecret(contract), f.path, value)
            expect(issues(decodeContract(input))).toEqual([{ path: f.where, message }])
          }))
      }
      for (const value of f.accepts) {
        it.effect(`accepts ${JSON.stringify(value).slice(0, 60)}`, () =>
          Effect.gen(function*() {
            const { contract } = yield* samples
            const input = setAt(contractWithSecret(contract), f.path, value)
            expect(at(decodedOrThrow(decodeContract(input)), f.path)).toBe(value)
          }))
      }
    })
  }

  it.effect("a discriminant that is an object with a non-callable toString is a field error, not a thrown TypeError", () =>
    Effect.gen(function*() {
      const { entries } = yield* samples
      const input = setAt(entries[commandIndex], ["event", "type"], JSON.parse("{\"toString\":0}"))
      let thrown: unknown = undefined
      let result: Either.Either<unknown, ProtocolDecodeError | UnsupportedVersion> | undefined = undefined
      try {
        result = decodeChainEntry(input)
      } catch (error) {
        thrown = error
      }
      expect(thrown === undefined ? "returned" : `threw ${String(thrown)}`).toBe("returned")
      expect(issues(result!).map((i) => i.path)).toEqual(["$.event.type"])
    }))

  it.effect("a 10,000-level nested array in a string field is an issue at that field, not a thrown RangeError", () =>
    Effect.gen(function*() {
      const { contract } = yield* samples
      let deep: unknown = []
      for (let i = 0; i < 10_000; i++) deep = [deep]
      const input = setAt(contract, ["task", "prompt"], deep)
      let thrown: unknown = undefined
      let result: Either.Either<unknown, ProtocolDecodeError | UnsupportedVersion> | undefined = undefined
      try {
        result = decodeContract(input)
      } catch (error) {
        thrown = error
      }
      expect(thrown === undefined ? "returned" : `threw ${String(thrown).slice(0, 120)}`).toBe("returned")
      expect(issues(result!).map((i) => i.path)).toEqual(["$.task.prompt"])
    }))
})

// --- fastValidator must judge exactly as Schema.is does ---

/** Every path of a JSON tree, the root included. */

type Mutation =
  | { readonly kind: "replace"; readonly pick: number; readonly value: unknown }
  | { readonly kind: "delete"; readonly pick: number }
  | { readonly kind: "add"; readonly pick: number; readonly key: string; readonly value: unknown }

/** Random JSON, plus near misses fc.jsonValue rarely produces: empty containers, edge numbers, protocol-like strings. */
const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue() },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      [], {}, "", 0, -1, 1.5, 2 ** 53, null, true, "warrant.event.v1", "run.completed", "agent", "ed25519",
      `sha256:${hex64}`, `ed25519:${hex64}`, "2026-01-01T00:00:00.000Z", { "": "x" }, { CI: "1" }, { "1bad": "x" }, ["x"],
      { toString: 0 }
    )
  }
)

const keyArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "toString", "type", "kind", "version", "hash", "A_B", "1A") }
)

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("replace" as const), pick: fc.nat(), value: jsonish }),
  fc.record({ kind: fc.constant("delete" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("add" as const), pick: fc.nat(), key: keyArb, value: jsonish })
)


/** Applies one mutation to `root` in place (or returns a new root when the root itself is replaced). */
const mutate = (root: unknown, m: Mutation): unknown => {
  const paths = pathsOf(root)
  switch (m.kind) {
    case "replace": {
      const path = pick(paths, m.pick)!
      const value = structuredClone(m.value)
      if (path.length === 0) return value
      put(at(root, path.slice(0, -1)), path[path.length - 1]!, value)
      return root
    }
    case "delete": {
      const path = pick(paths.filter((p) => typeof p[p.length - 1] === "string"), m.pick)
      if (path !== undefined) delete (at(root, path.slice(0, -1)) as Record<string, unknown>)[path[path.length - 1] as string]
      return root
    }
    case "add": {
      const path = pick(paths.filter((p) => isObject(at(root, p))), m.pick)
      if (path !== undefined) put(at(root, path), m.key, structuredClone(m.value))
      return root
    }
  }
}

const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 3 })

/** A verdict, or the exception a validator threw instead of answering (itself a disagreement). */
const verdict = (validate: (u: unknown) => boolean, u: unknown): boolean | string => {
  try {
    return validate(u)
  } catch (error) {
    return `threw ${String(error)}`
  }
}

/** The mutated value, for the failure message (fast-check shows only the seeds and mutations). */
const show = (u: unknown): string => `input: ${JSON.stringify(u)?.slice(0, 6000)}`

/** Both validators' verdicts, in a shape whose diff reads well when they differ. */
// Schema.is throws on a few hostile shapes (an Effect union-search quirk, see the toString
// case below); the decoders turn that into a decode error, so the fast path must say false.
const rejects = (validate: (u: unknown) => boolean, u: unknown): boolean => {
  try {
    return validate(u)
  } catch {
    return false
  }
}
const judge = (fast: (u: unknown) => boolean, slow: (u: unknown) => boolean, u: unknown) => ({
  actual: { fastValidator: verdict(fast, u) },
  expected: { fastValidator: rejects(slow, u) }
})
const applyAll = (base: unknown, ms: ReadonlyArray<Mutation>): unknown => ms.reduce(mutate, structuredClone(base))

/**
 * Arbitrary.make builds arbitraries for the real schemas, but sampling them never finishes:
 * `versionField` is a bare Schema.filter with no arbitrary annotation, so fast-check filters
 * random strings until one happens to be "warrant.<family>.v1". These twins differ only in
 * their version fields (a Literal of the exact version and a minor revision); every value they
 * produce is then judged against the real schema.
 */
const ManifestTwin = Schema.Struct({ ...Manifest.fields, version: Schema.Literal("warrant.manifest.v1", "warrant.manifest.v1.2") })
const ContractTwin = Schema.Struct({ ...Contract.fields, version: Schema.Literal("warrant.contract.v1", "warrant.contract.v1.3"), workspace: ManifestTwin })
const ChainEntryTwin = Schema.Struct({ ...ChainEntry.fields, version: Schema.Literal("warrant.event.v1", "warrant.event.v1.7") })
const ReceiptTwin = Schema.Struct({ ...Receipt.fields, version: Schema.Literal("warrant.receipt.v1", "warrant.receipt.v1.1") })
const BundleTwin = Schema.Struct({
  ...Bundle.fields,
  version: Schema.Literal("warrant.bundle.v1", "warrant.bundle.v1.4"),
  contract: ContractTwin,
  events: Schema.Array(ChainEntryTwin),
  receipt: ReceiptTwin
})

interface EquivalenceCase {
  readonly name: string
  readonly schema: Schema.Schema<unknown, unknown, never>
  readonly twin: Schema.Schema<unknown, unknown, never>
  readonly generatedRuns: number
  readonly mutationRuns: number
  readonly bases: (s: Samples) => ReadonlyArray<unknown>
  /** Mutate generated values too (cheap schemas only: generation costs milliseconds per bundle). */
  readonly mutateGenerated: boolean
}

// Schema.Schema<A, I> is invariant in A and I; the cases only need `unknown` in and a boolean out.
const erase = <A, I>(schema: Schema.Schema<A, I, never>) => schema as unknown as Schema.Schema<unknown, unknown, never>

const equivalenceCases: ReadonlyArray<EquivalenceCase> = [
  { name: "ChainEntry", schema: erase(ChainEntry), twin: erase(ChainEntryTwin), generatedRuns: 100, mutationRuns: 2000, bases: (s) => s.entries, mutateGenerated: true },
  { name: "Contract", schema: erase(Contract), twin: erase(ContractTwin), generatedRuns: 25, mutationRuns: 1000, bases: (s) => [s.contract], mutateGenerated: true },
  { name: "Receipt", schema: erase(Receipt), twin: erase(ReceiptTwin), generatedRuns: 20, mutationRuns: 1000, bases: (s) => [s.receipt], mutateGenerated: true },
  { name: "Bundle", schema: erase(Bundle), twin: erase(BundleTwin), generatedRuns: 10, mutationRuns: 2000, bases: (s) => [s.bundle], mutateGenerated: false }
]

describe("fastValidator is exactly Schema.is", () => {
  for (const c of equivalenceCases) {
    describe(c.name, () => {
      const fast = fastValidator(c.schema)
      const slow = Schema.is(c.schema)

      it(`compiles to its own predicate rather than falling back to Schema.is`, () => {
        // The fallback is Schema.is itself; the compiled struct check reads own properties directly.
        expect(fast.toString()).toContain("hasOwn.call")
      })

      // Arbitrary.make yields arbitraries of effect's own fast-check (3.x), so its properties run
      // under effect's FastCheck; the mutation properties below use fast-check 4 on sampled values.
      it(`accepts what Arbitrary.make produces (${c.generatedRuns} runs)`, () => {
        FastCheck.assert(
          FastCheck.property(Arbitrary.make(c.twin), (value) => {
            expect({ fast: fast(value), slow: slow(value) }).toEqual({ fast: true, slow: true })
          }),
          { numRuns: c.generatedRuns }
        )
      })

      it.effect(`agrees with Schema.is on mutations of a valid sample (${c.mutationRuns} runs)`, () =>
        Effect.gen(function*() {
          const s = yield* samples
          const bases = c.bases(s)
          for (const base of bases) expect(fast(base)).toBe(true)
          fc.assert(
            fc.property(fc.nat(), mutationsArb, (n, ms) => {
              const mutated = applyAll(bases[n % bases.length], ms)
              const { actual, expected } = judge(fast, slow, mutated)
              expect(actual, show(mutated)).toEqual(expected)
            }),
            { numRuns: c.mutationRuns }
          )
        }))

      if (c.mutateGenerated) {
        it(`agrees with Schema.is on mutations of generated values (${c.generatedRuns} values, ${4 * c.generatedRuns} runs)`, () => {
          const values = FastCheck.sample(Arbitrary.make(c.twin), { numRuns: c.generatedRuns })
          fc.assert(
            fc.property(fc.nat(), mutationsArb, (n, ms) => {
              const mutated = applyAll(values[n % values.length], ms)
              const { actual, expected } = judge(fast, slow, mutated)
              expect(actual, show(mutated)).toEqual(expected)
            }),
            { numRuns: 4 * c.generatedRuns }
          )
        })
      }
    })
  }

  it.effect("agrees with Schema.is on a whole mutated events array, the shape verifyBundle checks (500 runs)", () =>
    Effect.gen(function*() {
      const s = yield* samples
      const schema = Schema.Array(ChainEntry)
      const fast = fastValidator(schema)
      const slow = Schema.is(schema)
      fc.assert(
        fc.property(mutationsArb, (ms) => {
          const mutated = applyAll(s.entries, ms)
          const { actual, expected } = judge(fast, slow, mutated)
          expect(actual, show(mutated)).toEqual(expected)
        }),
        { numRuns: 500 }
      )
    }))

  // Found by the mutation properties above; kept as a fixed case so it fails deterministically.
  it.effect("agrees on an env-var map with a key that is not an EnvName", () =>
    Effect.gen(function*() {
      const { contract } = yield* samples
      const input = setAt(contract, ["execution", "env", "vars"], { CI: "1", "1bad": "x" })
      // Schema.is ignores a record key its key schema rejects (an excess property); the compiled check rejects the object.
      const { actual, expected } = judge(fastValidator(Contract), Schema.is(Contract), input)
      expect(actual).toEqual(expected)
    }))

  it.effect("agrees on a tagged union member reached only through the prototype", () =>
    Effect.gen(function*() {
      const { entries } = yield* samples
      const entry = wire(entries[commandIndex]) as Record<string, unknown>
      entry["event"] = Object.create(entry["event"] as object)
      expect(judge(fastValidator(ChainEntry), Schema.is(ChainEntry), entry)).toEqual({
        actual: { fastValidator: false },
        expected: { fastValidator: false }
      })
    }))

  // Found by the mutation properties above: Schema's union search runs String(input.type).
  it.effect("agrees on a tag that is an object with a non-callable toString (JSON can spell one)", () =>
    Effect.gen(function*() {
      const { entries } = yield* samples
      const input = setAt(entries[commandIndex], ["event", "type"], JSON.parse("{\"toString\":0}"))
      const { actual, expected } = judge(fastValidator(ChainEntry), Schema.is(ChainEntry), input)
      expect(actual).toEqual(expected)
    }))
})
