/**
 * Red-team review of `verifyBundle` and `verifyEventDisclosure`.
 *
 * Threat model: an attacker who holds NO private key edits a genuine bundle (or a genuine
 * receipt plus an event disclosure) and wants a `valid: true` verdict for something that was
 * not signed, or wants to stall the verifier. Tests in the "refused" blocks are defences that
 * must stay; the "found and fixed" blocks describe flaws this review found, now fixed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import { discloseEvent } from "../../src/chain/EventsTree.js"
import { nodeHash } from "../../src/chain/Merkle.js"
import { generateKey } from "../../src/crypto/Ed25519.js"
import * as Signer from "../../src/crypto/Signer.js"
import { bytesOf, fromBytes, type Sha256 } from "../../src/protocol/Hash.js"
import { verifyEventDisclosure } from "../../src/receipt/Disclosure.js"
import { type TrustedKey, type Verification, verifyBundle } from "../../src/receipt/Verify.js"
import { sampleRun } from "../../src/testkit/SampleRun.js"
import { type Json, put, wire } from "../support/WireJson.js"

const codes = (result: Verification) => result.problems.map((p) => `${p.code} @ ${p.where}`)

/** A fresh genuine bundle as wire JSON, the run behind it, and the real plane + runner trust list. */
const fresh = Effect.map(sampleRun(), (run) => ({
  ...run,
  json: wire(run.bundle) as Json,
  trustedKeys: [{ keyId: run.plane.keyId }, { keyId: run.runner.keyId }] satisfies ReadonlyArray<TrustedKey>
}))

/** Edits a fresh genuine bundle (no re-signing: the attacker has no key) and verifies it under trust. */
const tampered = (edit: (json: Json) => unknown) =>
  Effect.map(fresh, ({ json, trustedKeys }) => {
    const replaced = edit(json)
    return verifyBundle(replaced === undefined ? json : replaced, { trustedKeys })
  })

const indexOf = (json: Json, predicate: (event: Json) => boolean): number => json.events.findIndex((e: Json) => predicate(e.event))

// ---------------------------------------------------------------------------------------------
// Refused: keyless edits of signed or hashed content.
// ---------------------------------------------------------------------------------------------

describe("red team: keyless edits that are refused", () => {
  it.effect("an unknown field on the contract's signature changes the contract hash: the chain detaches", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        json.contract.signatures[0].note = "x"
      })
      expect(codes(result)).toEqual([
        "chain.prevHash @ $.events[0]",
        "receipt.contract-hash-mismatch @ $.receipt.contractHash"
      ])
    }))

  it.effect("relabelling the contract as a minor revision (warrant.contract.v1.9) is covered by its signature and hash", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        json.contract.version = "warrant.contract.v1.9"
      })
      expect(codes(result)).toEqual([
        "contract.signature-invalid @ $.contract.signatures[0]",
        "chain.prevHash @ $.events[0]",
        "receipt.contract-hash-mismatch @ $.receipt.contractHash"
      ])
    }))

  it.effect("relabelling the receipt as a minor revision is covered by both receipt signatures", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        json.receipt.version = "warrant.receipt.v1.9"
      })
      expect(codes(result)).toEqual([
        "receipt.signature-invalid @ $.receipt.signatures[0]",
        "receipt.countersignature-invalid @ $.receipt.signatures[1]"
      ])
    }))

  it.effect("an own __proto__ key smuggled into the receipt is signed content, not a prototype", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        put(json.receipt, "__proto__", { status: "failed" })
      })
      expect(codes(result)).toEqual([
        "receipt.signature-invalid @ $.receipt.signatures[0]",
        "receipt.countersignature-invalid @ $.receipt.signatures[1]"
      ])
    }))

  it.effect("an own __proto__ key smuggled into an event is hashed content", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        put(json.events[4].event, "__proto__", { decision: "blocked" })
      })
      expect(codes(result)).toEqual(["chain.hash @ $.events[4]"])
    }))

  it.effect("a duplicate JSON key whose last (winning) value is forged breaks that entry's hash", () =>
    Effect.gen(function*() {
      const { json, trustedKeys } = yield* fresh
      const index = indexOf(json, (e) => e.host === "169.254.169.254")
      // The event's own JSON text, as a sender would write it, with "decision" spelled twice.
      const text = JSON.stringify(json.events[index].event)
      const signed = "\"decision\":\"blocked\""
      expect(text.split(signed).length).toBe(2)
      const forged = wire(json) as Json
      forged.events[index].event = JSON.parse(text.replace(signed, `${signed},"decision":"allowed"`))
      expect(codes(verifyBundle(forged, { trustedKeys }))).toEqual([
        `chain.hash @ $.events[${index}]`,
        "receipt.summary-mismatch @ $.receipt.networkAccessed"
      ])
      // The same duplicate with the signed value last is what was signed (JSON.parse keeps the last),
      // so it is valid: a reader with first-wins duplicate semantics would see "allowed" (see report).
      const benign = wire(json) as Json
      benign.events[index].event = JSON.parse(text.replace(signed, `"decision":"allowed",${signed}`))
      expect(verifyBundle(benign, { trustedKeys }).valid).toBe(true)
    }))

  it.effect("an event relabelled as a minor revision breaks its hash", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        json.events[0].version = "warrant.event.v1.9"
      })
      expect(codes(result)).toEqual(["chain.hash @ $.events[0]"])
    }))

  it.effect("the receipt signatures swapped", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        json.receipt.signatures.reverse()
      })
      expect(codes(result)).toEqual([
        "receipt.signature-missing @ $.receipt.signatures[0]",
        "receipt.unexpected-signature @ $.receipt.signatures[1]"
      ])
    }))

  it.effect("the plane's countersignature relabelled as a second runner signature", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        json.receipt.signatures[1].role = "runner"
      })
      expect(codes(result)).toEqual(["receipt.unexpected-signature @ $.receipt.signatures[1]"])
    }))

  it.effect("the countersignature dropped", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        json.receipt.signatures.pop()
      })
      expect(codes(result)).toEqual(["receipt.countersignature-missing @ $.receipt.signatures"])
    }))

  it.effect("the plane's countersignature replaced by one from the attacker's own key is untrusted", () =>
    Effect.gen(function*() {
      const { json, trustedKeys } = yield* fresh
      const attacker = Signer.make(Redacted.make(generateKey().secretKey))
      const runnerSig = json.receipt.signatures[0]
      json.receipt.signatures = [runnerSig, yield* attacker.signObject("receipt", "plane", json.receipt, [runnerSig])]
      json.keys.push(attacker.record)
      expect(codes(verifyBundle(json, { trustedKeys }))).toEqual(["trust.untrusted-key @ $.receipt.signatures[1]", "receipt.countersigner-mismatch @ $.receipt.signatures[1]"])
    }))

  it.effect("a key record repeated with an upper-case keyId is malformed, not a second identity", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        json.keys.push({ ...json.keys[0], keyId: String(json.keys[0].keyId).toUpperCase() })
      })
      expect(codes(result)).toEqual(["bundle.malformed @ $.keys[2]"])
    }))

  it.effect("stripping the bundle's keys leaves every signature unverifiable", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        json.keys = []
      })
      expect(codes(result)).toEqual([
        "key.missing @ $.contract.signatures[0]",
        "key.missing @ $.receipt.signatures[0]",
        "key.missing @ $.receipt.signatures[1]"
      ])
    }))

  it.effect("an array with a hole where an event was (not JSON, but verifyBundle takes any value)", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        const holed = new Array<unknown>(json.events.length)
        json.events.forEach((e: unknown, i: number) => {
          if (i !== 3) holed[i] = e
        })
        json.events = holed
      })
      expect(codes(result)).toEqual(["bundle.malformed @ $.events[3]"])
    }))

  it.effect("the chain cut before its terminal event", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        json.events.pop()
      })
      expect(codes(result)).toEqual([
        "chain.unterminated @ $.events",
        "receipt.head-mismatch @ $.receipt.eventsHead",
        "receipt.count-mismatch @ $.receipt.eventCount",
        "receipt.tree-mismatch @ $.receipt.eventsTree",
        "receipt.summary-mismatch @ $.receipt.status"
      ])
    }))

  it.effect("a 100,000-level nested array in an unknown receipt field cannot be canonicalised: both signatures fail", () =>
    Effect.gen(function*() {
      let deep: unknown = []
      for (let i = 0; i < 100_000; i++) deep = [deep]
      const result = yield* Effect.map(fresh, ({ json, trustedKeys }) => {
        json.receipt.extra = deep
        return verifyBundle(json, { trustedKeys })
      })
      expect(codes(result)).toEqual([
        "receipt.signature-invalid @ $.receipt.signatures[0]",
        "receipt.countersignature-invalid @ $.receipt.signatures[1]"
      ])
    }))

  // Its speed is measured by `npm run bench -- verify`, not here.
  it.effect("a genuine 10,000-event chain verifies", () =>
    Effect.gen(function*() {
      const run = yield* sampleRun({ extraEvents: 10_000 })
      const json = wire(run.bundle)
      const result = verifyBundle(json, { trustedKeys: [{ keyId: run.plane.keyId }, { keyId: run.runner.keyId }] })
      expect(codes(result)).toEqual([])
    }))
})

// ---------------------------------------------------------------------------------------------
// Accepted on purpose: edits that change bytes but not meaning. Pinned so a change is noticed.
// ---------------------------------------------------------------------------------------------

describe("red team: byte changes that do not change meaning stay valid", () => {
  it.effect("-0 for 0 in a hashed number (RFC 8785 writes both as 0), a minor bundle version, unsigned extras", () =>
    Effect.gen(function*() {
      const result = yield* tampered((json) => {
        json.events[0].seq = -0
        json.events.at(-1).event.exitCode = -0
        json.version = "warrant.bundle.v1.9" // the envelope is not signed
        json.note = "unsigned envelope field"
        json.receipt.signatures[0].note = "countersigned in decoded form, so unknown fields drop out"
        json.receipt.signatures[1].note = "covered by nothing"
      })
      expect(codes(result)).toEqual([])
      expect(result.valid).toBe(true)
    }))
})

// ---------------------------------------------------------------------------------------------
// Refused: forged event disclosures.
// ---------------------------------------------------------------------------------------------

describe("red team: forged event disclosures", () => {
  const setup = Effect.map(sampleRun(), (run) => {
    const index = run.entries.findIndex((e) => e.event.type === "network.connected")
    return {
      run,
      index,
      receipt: wire(run.receipt),
      disclosure: wire(discloseEvent(run.entries, index)) as Json,
      trustedKeys: [run.plane.record, run.runner.record]
    }
  })
  const leftOf = (e: Either.Either<unknown, string>): string => (Either.isLeft(e) ? e.left : "ACCEPTED")

  it.effect("a proof that claims a larger tree than the receipt commits to", () =>
    Effect.gen(function*() {
      const { receipt, disclosure, trustedKeys } = yield* setup
      disclosure.treeSize += 1
      expect(leftOf(verifyEventDisclosure({ receipt, disclosure }, { trustedKeys }))).toBe(
        `the proof is for a tree of ${disclosure.treeSize} events; the receipt commits to ${disclosure.treeSize - 1}`
      )
    }))

  it.effect("a proof with an extra step appended", () =>
    Effect.gen(function*() {
      const { receipt, disclosure, trustedKeys } = yield* setup
      disclosure.path.push(disclosure.path[0])
      expect(leftOf(verifyEventDisclosure({ receipt, disclosure }, { trustedKeys }))).toBe("the audit path does not lead to the receipt's tree root")
    }))

  it.effect("a real entry presented at another leaf index", () =>
    Effect.gen(function*() {
      const { receipt, disclosure, trustedKeys, index } = yield* setup
      disclosure.leafIndex = index + 1
      expect(leftOf(verifyEventDisclosure({ receipt, disclosure }, { trustedKeys }))).toBe(`the entry has seq ${index} but is disclosed at index ${index + 1}`)
    }))

  it.effect("an interior node passed off as a leaf (second preimage) cannot carry an entry that hashes to it", () =>
    Effect.gen(function*() {
      const { run, receipt, disclosure, trustedKeys } = yield* setup
      const node = fromBytes(nodeHash(bytesOf(run.entries[0]!.hash), bytesOf(run.entries[1]!.hash)))
      disclosure.entry.hash = node as Sha256
      disclosure.entry.seq = 0
      disclosure.leafIndex = 0
      disclosure.path = disclosure.path.slice(1)
      expect(leftOf(verifyEventDisclosure({ receipt, disclosure }, { trustedKeys }))).toBe("the disclosed entry does not hash to its stated hash")
    }))
})

// ---------------------------------------------------------------------------------------------
// Found by this review and fixed; each comment records the flaw as it was.
// ---------------------------------------------------------------------------------------------

describe("red team, found and fixed: denial of service on small input", () => {
  // WAS: every element of `events` that fails the fast validator is decoded by Schema with
  // `errors: "all"`, and every failure is reported as its own problem. Effect renders the full
  // expected type of ChainEntry (the 16-member RunEvent union, kilobytes of text) for each bad
  // element, then `issuesOf` builds a Schema.Class DecodeIssue and runs `clip` on it. That costs
  // ~150 µs per element: 12,000 elements of `0` (about 24 KB of JSON) take ~2 s; a 10 MB
  // bundle (5 M such elements) would take tens of minutes and return millions of problems.
  // FIX: cap the work and the report. E.g. check each element with the fast validator and decode
  // (for the message) only the first N (say 20) failures, adding one summary problem
  // "… and K more invalid events"; or decode with `errors: "first"` beyond a bound. The same cap
  // belongs in `versionedDecoder` generally (contract/receipt arrays, see the report).
  // FIXED: at most MAX_ISSUES failures are described, the rest counted in one problem.
  it.effect("12,000 events that are the number 0 (~24 KB) get 20 described problems and a count of the rest", () =>
    Effect.gen(function*() {
      const { json, trustedKeys } = yield* fresh
      json.events = Array.from({ length: 12_000 }, () => 0)
      const result = verifyBundle(json, { trustedKeys })
      expect(result.valid).toBe(false)
      const decode = result.problems.filter((p) => p.where.startsWith("$.events"))
      expect(decode.length).toBe(21)
      expect(decode.slice(0, 20).map((p) => p.where)).toEqual(Array.from({ length: 20 }, (_, i) => `$.events[${i}]`))
      expect(decode[20]).toEqual({ where: "$.events", code: "bundle.malformed", message: "and 11980 more invalid field(s) not described" })
    }))

  // WAS: `raw.keys.forEach` decodes every key record with Schema and pushes one problem per bad
  // record, with no bound: ~10 µs each, so 200,000 `{}` records (~0.6 MB) take ~2 s and a 10 MB
  // bundle ~30 s, with millions of problems returned.
  // FIX: refuse a key list longer than a small bound (a bundle needs at most a handful of keys)
  // with one `bundle.malformed @ $.keys` problem, before decoding any element.
  // FIXED: a key list longer than 16 is one problem, and only its first 16 records are read.
  it.effect("200,000 empty key records (~0.6 MB) are one problem, not 200,000", () =>
    Effect.gen(function*() {
      const { json, trustedKeys } = yield* fresh
      json.keys = Array.from({ length: 200_000 }, () => ({}))
      const result = verifyBundle(json, { trustedKeys })
      expect(result.valid).toBe(false)
      expect(result.problems[0]).toEqual({ where: "$.keys", code: "bundle.malformed", message: "a bundle lists at most 16 keys; this one lists 200000" })
      expect(result.problems.filter((p) => p.where.startsWith("$.keys[")).length).toBe(16)
    }))

  // WAS: the same unbounded all-errors decoding in `verifyEventDisclosure`: the disclosure's
  // `path` is decoded element by element with `errors: "all"` before its length is compared with
  // the tree's depth. 200,000 path elements of `0` (~0.4 MB) take ~2-3 s.
  // FIX: reject `path.length > 64` (no RFC 9162 tree is deeper) before Schema decoding, and cap
  // reported issues in `versionedDecoder`.
  // FIXED by the same cap on described issues.
  it.effect("a disclosure whose audit path is 200,000 zeros (~0.4 MB) is refused with a bounded report", () =>
    Effect.gen(function*() {
      const run = yield* sampleRun()
      const disclosure = wire(discloseEvent(run.entries, 4)) as Json
      disclosure.path = Array.from({ length: 200_000 }, () => 0)
      const result = verifyEventDisclosure({ receipt: wire(run.receipt), disclosure }, { trustedKeys: [run.plane.record, run.runner.record] })
      expect(Either.isLeft(result) && result.left).toContain("and 199980 more invalid field(s) not described")
    }))
})

describe("red team, found and fixed: role separation", () => {
  // INSIDER (holds the runner's private key only, never the plane's). `--trust` in the CLI
  // (src/cli/TrustedKeyArg.ts) never sets `roles`, and `verifyBundle` only checks that each
  // signer is *some* trusted key. So the runner can countersign its own receipt in the role
  // "plane": with trustedKeys = [plane, runner] the bundle is valid although the plane never
  // accepted the receipt — the countersignature requirement is void. (Likewise the runner key may
  // sign a contract as "issuer" and `verifyEventDisclosure` accepts a runner-key "plane" signature.)
  // FIX: require the countersigning key to differ from the runner key (planeSig.keyId !==
  // runnerSig.keyId) and to be the contract's issuer or a key trusted for role "plane";
  // make the CLI take roles (`--trust-plane`, `--trust-runner`), and default `roles` to
  // ["issuer", "plane"] / ["runner"] instead of "any role".
  it.effect("a receipt countersigned by the runner's own key in the plane role is not valid", () =>
    Effect.gen(function*() {
      const { json, runner, trustedKeys } = yield* fresh
      const runnerSig = json.receipt.signatures[0]
      json.receipt.signatures = [runnerSig, yield* runner.signObject("receipt", "plane", json.receipt, [runnerSig])]
      const result = verifyBundle(json, { trustedKeys })
      expect(result.signers.countersignature).toBe(runner.keyId)
      expect(result.valid).toBe(false)
    }))

  it.effect("with roles given, the same self-countersignature is refused as trust.untrusted-key (defence)", () =>
    Effect.gen(function*() {
      const { json, runner, plane } = yield* fresh
      const runnerSig = json.receipt.signatures[0]
      json.receipt.signatures = [runnerSig, yield* runner.signObject("receipt", "plane", json.receipt, [runnerSig])]
      const result = verifyBundle(json, {
        trustedKeys: [{ keyId: plane.keyId, roles: ["issuer", "plane"] }, { keyId: runner.keyId, roles: ["runner"] }]
      })
      expect(codes(result)).toEqual(["trust.untrusted-key @ $.receipt.signatures[1]", "receipt.countersigner-mismatch @ $.receipt.signatures[1]"])
    }))
})

describe("red team, found and fixed: unsigned fields in a disclosure", () => {
  // NON-JSON INPUT (the API takes `unknown`; JSON.parse cannot produce this). The entry hash is
  // computed by the canonicaliser, which reads `Object.keys` (enumerable own properties only),
  // but the returned event is Schema's decoding of the same object, which also reads
  // non-enumerable own properties. A non-enumerable `timedOut: true` added to a genuine
  // `command.executed` entry leaves the hash and proof intact, and the caller is handed
  // `{ ..., timedOut: true }` as a proven event of the signed run. The same gap lets a
  // non-enumerable `workspaceIn.baseRef` appear in the returned receipt, and (with getters)
  // lets a value differ between the read that is hashed and the read that is judged.
  // FIX: snapshot the input once — `JSON.parse(canonical text)` of the receipt and disclosure —
  // and hash, verify and decode that snapshot only (the same applies to verifyBundle, whose
  // callers read the bundle object after a `valid: true`).
  it.effect("a non-enumerable field added to a disclosed entry is refused or at least not returned", () =>
    Effect.gen(function*() {
      const run = yield* sampleRun()
      const index = run.entries.findIndex((e) => e.event.type === "command.executed")
      const disclosure = wire(discloseEvent(run.entries, index)) as Json
      Object.defineProperty(disclosure.entry.event, "timedOut", { value: true, enumerable: false })
      const result = verifyEventDisclosure({ receipt: wire(run.receipt), disclosure }, { trustedKeys: [run.plane.record, run.runner.record] })
      const returned = Either.isRight(result) ? (result.right.disclosure.entry.event as Json).timedOut : "refused"
      expect(returned === "refused" || returned === undefined).toBe(true)
    }))
})
