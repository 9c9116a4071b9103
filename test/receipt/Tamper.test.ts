import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { generateKey } from "../../src/crypto/Ed25519.js"
import * as Signer from "../../src/crypto/Signer.js"
import type { BundleEncoded } from "../../src/protocol/Bundle.js"
import type { Signature } from "../../src/protocol/Signature.js"
import { verifyBundle } from "../../src/receipt/Verify.js"
import { sampleRun } from "../../src/testkit/SampleRun.js"
import type { Json } from "../support/WireJson.js"

const freshBundle = Effect.map(sampleRun(), (run) => ({ ...run, json: JSON.parse(JSON.stringify(run.bundle)) as Json }))

/** Changes one character: a hex digit to another hex digit, anything else to another letter. */
const flip = (s: string, at = s.length - 1): string => {
  const c = s[at]!
  const next = /[0-9a-f]/.test(c) ? (c === "0" ? "1" : "0") : c === "x" ? "y" : "x"
  return s.slice(0, at) + next + s.slice(at + 1)
}

const codes = (json: unknown, options?: Parameters<typeof verifyBundle>[1]) =>
  verifyBundle(json, options).problems.map((p) => `${p.code} @ ${p.where}`)

/** Re-signs a tampered receipt end to end, as a forger holding these keys could. */
const resign = (receipt: Json, runner: Signer.SignerShape, plane: Signer.SignerShape) =>
  Effect.gen(function*() {
    receipt.runner.keyId = runner.keyId
    const sig: Signature = yield* runner.signObject("receipt", "runner", { ...receipt, signatures: [] })
    const counter: Signature = yield* plane.signObject("receipt", "plane", { ...receipt, signatures: [sig] }, [sig])
    receipt.signatures = [sig, counter]
  })

const netIndex = (json: BundleEncoded) => json.events.findIndex((e) => e.event.type === "network.connected")

describe("verifyBundle", () => {
  it.effect("accepts an untouched bundle and names its signers", () =>
    Effect.gen(function*() {
      const { json, plane, runner } = yield* freshBundle
      const result = verifyBundle(json)
      expect(result).toEqual({
        valid: true,
        problems: [],
        signers: { contract: plane.keyId, receipt: runner.keyId, countersignature: plane.keyId },
        trustChecked: false
      })
    }))

  describe("tampering with an event", () => {
    it.effect("a flipped character in an event's host breaks that link and the network summary", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        const i = netIndex(json)
        json.events[i].event.host = flip(json.events[i].event.host, 0)
        expect(codes(json)).toEqual([`chain.hash @ $.events[${i}]`, "receipt.summary-mismatch @ $.receipt.networkAccessed"])
      }))

    it.effect("a flipped character in an event's timestamp breaks that link", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.events[3].ts = json.events[3].ts.replace(/\.(\d)/, (_: string, d: string) => `.${d === "9" ? "8" : Number(d) + 1}`)
        expect(codes(json)).toEqual(["chain.hash @ $.events[3]"])
      }))

    it.effect("a flipped character in an event's exit code field is caught", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        const i = json.events.findIndex((e: Json) => e.event.type === "command.executed")
        json.events[i].event.exitCode = 1
        expect(codes(json)).toEqual([`chain.hash @ $.events[${i}]`])
      }))

    it.effect("a flipped character in an event's own hash breaks the link and the Merkle root", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.events[2].hash = flip(json.events[2].hash)
        expect(codes(json)).toEqual(["chain.hash @ $.events[2]", "receipt.tree-mismatch @ $.receipt.eventsTree"])
      }))

    it.effect("a flipped character in prevHash breaks that link", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.events[4].prevHash = flip(json.events[4].prevHash)
        expect(codes(json)).toEqual(["chain.prevHash @ $.events[4]"])
      }))

    it.effect("a recomputed hash after tampering still breaks the next link", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        const { entryHash } = yield* Effect.promise(() => import("../../src/chain/Link.js"))
        const i = netIndex(json)
        json.events[i].event.decision = "blocked"
        json.events[i].hash = (entryHash(json.events[i]) as Json).right
        expect(codes(json)).toEqual([
          `chain.prevHash @ $.events[${i + 1}]`,
          "receipt.tree-mismatch @ $.receipt.eventsTree",
          "receipt.summary-mismatch @ $.receipt.networkAccessed"
        ])
      }))
  })

  describe("tampering with the chain's shape", () => {
    it.effect("a dropped event", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.events.splice(3, 1)
        expect(codes(json)).toEqual([
          "chain.seq @ $.events[3]",
          "receipt.count-mismatch @ $.receipt.eventCount",
          "receipt.tree-mismatch @ $.receipt.eventsTree"
        ])
      }))

    it.effect("a duplicated event", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.events.splice(4, 0, structuredClone(json.events[4]))
        // The duplicate repeats a decision already summarised, so only the chain notices.
        expect(codes(json)).toEqual([
          "chain.seq @ $.events[5]",
          "receipt.count-mismatch @ $.receipt.eventCount",
          "receipt.tree-mismatch @ $.receipt.eventsTree"
        ])
      }))

    it.effect("two events swapped", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        const [a, b] = [json.events[4], json.events[5]]
        json.events[4] = b
        json.events[5] = a
        expect(codes(json)).toEqual([
          "chain.seq @ $.events[4]",
          "receipt.tree-mismatch @ $.receipt.eventsTree",
          "receipt.summary-mismatch @ $.receipt.networkAccessed"
        ])
      }))

    it.effect("a chain truncated before its terminal event", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        const kept = json.events.length - 2
        json.events.length = kept
        expect(codes(json)).toEqual([
          "chain.unterminated @ $.events",
          "receipt.head-mismatch @ $.receipt.eventsHead",
          "receipt.count-mismatch @ $.receipt.eventCount",
          "receipt.tree-mismatch @ $.receipt.eventsTree",
          "receipt.summary-mismatch @ $.receipt.status",
          "receipt.summary-mismatch @ $.receipt.workspaceOut.diffHash",
          "receipt.summary-mismatch @ $.receipt.workspaceOut.artifactHashes"
        ])
      }))

    it.effect("an empty chain", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.events = []
        expect(codes(json)).toContain("chain.unterminated @ $.events")
        expect(codes(json)).toContain("receipt.count-mismatch @ $.receipt.eventCount")
      }))
  })

  describe("tampering with the receipt", () => {
    it.effect("a flipped character in a field nothing else repeats breaks both signatures", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.receipt.runner.attestationTier = "tee"
        expect(codes(json)).toEqual([
          "receipt.signature-invalid @ $.receipt.signatures[0]",
          "receipt.countersignature-invalid @ $.receipt.signatures[1]"
        ])
      }))

    it.effect("a flipped character in the head", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.receipt.eventsHead = flip(json.receipt.eventsHead)
        expect(codes(json)).toEqual([
          "receipt.signature-invalid @ $.receipt.signatures[0]",
          "receipt.countersignature-invalid @ $.receipt.signatures[1]",
          "receipt.head-mismatch @ $.receipt.eventsHead"
        ])
      }))

    it.effect("a changed event count", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.receipt.eventCount += 1
        expect(codes(json)).toEqual([
          "receipt.signature-invalid @ $.receipt.signatures[0]",
          "receipt.countersignature-invalid @ $.receipt.signatures[1]",
          "receipt.count-mismatch @ $.receipt.eventCount"
        ])
      }))

    it.effect("a flipped character in the Merkle root", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.receipt.eventsTree.root = flip(json.receipt.eventsTree.root)
        expect(codes(json)).toEqual([
          "receipt.signature-invalid @ $.receipt.signatures[0]",
          "receipt.countersignature-invalid @ $.receipt.signatures[1]",
          "receipt.tree-mismatch @ $.receipt.eventsTree"
        ])
      }))

    it.effect("a summary that disagrees with the events, re-signed by the real keys, is still caught", () =>
      Effect.gen(function*() {
        const { json, runner, plane } = yield* freshBundle
        json.receipt.networkAccessed = json.receipt.networkAccessed.filter((n: Json) => n.decision !== "blocked")
        yield* resign(json.receipt, runner, plane)
        expect(codes(json)).toEqual(["receipt.summary-mismatch @ $.receipt.networkAccessed"])
      }))

    it.effect("a released secret hidden from the summary, re-signed, is caught", () =>
      Effect.gen(function*() {
        const { json, runner, plane } = yield* freshBundle
        json.receipt.secretsReleased = [{ name: "NPM_TOKEN", scope: "run", ts: json.receipt.startedAt }]
        yield* resign(json.receipt, runner, plane)
        expect(codes(json)).toEqual(["receipt.summary-mismatch @ $.receipt.secretsReleased"])
      }))

    it.effect("a status claiming success for a failed run, re-signed, is caught", () =>
      Effect.gen(function*() {
        const { json, runner, plane } = yield* freshBundle
        json.receipt.status = "failed"
        yield* resign(json.receipt, runner, plane)
        expect(codes(json)).toEqual(["receipt.summary-mismatch @ $.receipt.status"])
      }))

    it.effect("an enforcement matrix stronger than the one attested, re-signed, is caught", () =>
      Effect.gen(function*() {
        const { json, runner, plane } = yield* freshBundle
        json.receipt.sandbox.matrix.network = "enforced"
        yield* resign(json.receipt, runner, plane)
        expect(codes(json)).toEqual(["receipt.summary-mismatch @ $.receipt.sandbox"])
      }))

    it.effect("a receipt for another contract", () =>
      Effect.gen(function*() {
        const { json, runner, plane } = yield* freshBundle
        json.receipt.contractHash = flip(json.receipt.contractHash)
        yield* resign(json.receipt, runner, plane)
        expect(codes(json)).toEqual(["receipt.contract-hash-mismatch @ $.receipt.contractHash"])
      }))
  })

  describe("tampering with signatures and keys", () => {
    it.effect("a flipped character in the contract's signature", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.contract.signatures[0].sig = flip(json.contract.signatures[0].sig, 10)
        // The contract hash covers its signature, so the chain and receipt detach too.
        expect(codes(json)).toEqual([
          "contract.signature-invalid @ $.contract.signatures[0]",
          "chain.prevHash @ $.events[0]",
          "receipt.contract-hash-mismatch @ $.receipt.contractHash"
        ])
      }))

    it.effect("a flipped character in the runner's signature also voids the countersignature over it", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.receipt.signatures[0].sig = flip(json.receipt.signatures[0].sig, 10)
        expect(codes(json)).toEqual([
          "receipt.signature-invalid @ $.receipt.signatures[0]",
          "receipt.countersignature-invalid @ $.receipt.signatures[1]"
        ])
      }))

    it.effect("a flipped character in the plane's countersignature", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.receipt.signatures[1].sig = flip(json.receipt.signatures[1].sig, 10)
        expect(codes(json)).toEqual(["receipt.countersignature-invalid @ $.receipt.signatures[1]"])
      }))

    it.effect("a signature that is not hex is a malformed field, reported by path", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.receipt.signatures[0].sig = "zz" + json.receipt.signatures[0].sig.slice(2)
        expect(codes(json)).toEqual(["bundle.malformed @ $.receipt.signatures[0].sig"])
      }))

    it.effect("the runner key swapped for another key: the countersignature and the claim disagree", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        const impostor = Signer.make(Redacted.make(generateKey().secretKey))
        json.receipt.runner.keyId = impostor.keyId
        const sig: Signature = yield* impostor.signObject("receipt", "runner", { ...json.receipt, signatures: [] })
        json.receipt.signatures[0] = sig
        json.keys.push(impostor.record)
        expect(codes(json)).toEqual([
          "receipt.countersignature-invalid @ $.receipt.signatures[1]",
          `receipt.runner-mismatch @ $.events[0]`
        ])
      }))

    it.effect("a run re-recorded and re-signed by a forger's runner key is consistent, and untrusted under trust", () =>
      Effect.gen(function*() {
        const { json, plane, runner } = yield* freshBundle
        const forger = Signer.make(Redacted.make(generateKey().secretKey))
        json.events[0].event.keyId = forger.keyId
        // Rebuilding everything with the forger's key is possible offline; only trust tells it apart.
        const { entryHash } = yield* Effect.promise(() => import("../../src/chain/Link.js"))
        const { treeHead } = yield* Effect.promise(() => import("../../src/chain/EventsTree.js"))
        let prev = json.events[0].prevHash
        for (const e of json.events) {
          e.prevHash = prev
          e.hash = (entryHash(e) as Json).right
          prev = e.hash
        }
        json.receipt.eventsHead = prev
        json.receipt.eventsTree = treeHead(json.events.map((e: Json) => e.hash))
        yield* resign(json.receipt, forger, plane)
        json.keys.push(forger.record)
        expect(codes(json)).toEqual([])
        expect(codes(json, { trustedKeys: [{ keyId: plane.keyId }, { keyId: runner.keyId }] })).toEqual([
          "trust.untrusted-key @ $.receipt.signatures[0]"
        ])
      }))

    it.effect("with trusted keys, a key trusted only for another role is a problem", () =>
      Effect.gen(function*() {
        const { json, plane, runner } = yield* freshBundle
        const result = verifyBundle(json, { trustedKeys: [{ keyId: plane.keyId, roles: ["issuer"] }, { keyId: runner.keyId, roles: ["runner"] }] })
        expect(result.problems.map((p) => `${p.code} @ ${p.where}`)).toEqual(["trust.untrusted-key @ $.receipt.signatures[1]"])
        expect(result.trustChecked).toBe(true)
      }))

    it.effect("with the right trusted keys the bundle is valid and says trust was checked", () =>
      Effect.gen(function*() {
        const { json, plane, runner } = yield* freshBundle
        const result = verifyBundle(json, { trustedKeys: [{ keyId: plane.keyId }, { keyId: runner.keyId }] })
        expect(result.valid).toBe(true)
        expect(result.trustChecked).toBe(true)
      }))

    it.effect("a key listed under a keyId it does not derive to", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.keys[1].publicKey = json.keys[0].publicKey
        expect(codes(json)).toEqual([
          "key.id-mismatch @ $.keys[1]",
          "key.missing @ $.receipt.signatures[0]"
        ])
      }))

    it.effect("a missing countersignature", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.receipt.signatures.pop()
        expect(codes(json)).toEqual(["receipt.countersignature-missing @ $.receipt.signatures"])
        expect(codes(json, { requireCountersignature: false })).toEqual([])
      }))

    it.effect("a signature moved from the contract to the receipt does not verify there", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.receipt.signatures[1] = { ...json.contract.signatures[0], role: "plane" }
        expect(codes(json)).toEqual(["receipt.countersignature-invalid @ $.receipt.signatures[1]"])
      }))
  })

  describe("tampering with the contract", () => {
    it.effect("a flipped character in the task voids its signature and detaches the chain and receipt", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.contract.task.prompt = flip(json.contract.task.prompt, 0)
        expect(codes(json)).toEqual([
          "contract.signature-invalid @ $.contract.signatures[0]",
          "chain.prevHash @ $.events[0]",
          "receipt.contract-hash-mismatch @ $.receipt.contractHash"
        ])
      }))

    it.effect("a widened network allowlist", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.contract.network.allowHosts.push("evil.example")
        expect(codes(json)).toEqual([
          "contract.signature-invalid @ $.contract.signatures[0]",
          "chain.prevHash @ $.events[0]",
          "receipt.contract-hash-mismatch @ $.receipt.contractHash"
        ])
      }))

    it.effect("a changed workspace manifest also disagrees with the receipt's manifest hash", () =>
      Effect.gen(function*() {
        const { json } = yield* freshBundle
        json.contract.workspace.denied = []
        expect(codes(json)).toEqual([
          "contract.signature-invalid @ $.contract.signatures[0]",
          "chain.prevHash @ $.events[0]",
          "receipt.contract-hash-mismatch @ $.receipt.contractHash",
          "receipt.summary-mismatch @ $.receipt.workspaceIn.manifestHash"
        ])
      }))

    it.effect("a contract claiming another issuer", () =>
      Effect.gen(function*() {
        const { json, runner } = yield* freshBundle
        json.contract.issuer.keyId = runner.keyId
        expect(codes(json)).toEqual([
          "contract.issuer-mismatch @ $.contract.signatures[0]",
          "contract.signature-invalid @ $.contract.signatures[0]",
          "chain.prevHash @ $.events[0]",
          "receipt.countersigner-mismatch @ $.receipt.signatures[1]",
          "receipt.contract-hash-mismatch @ $.receipt.contractHash"
        ])
      }))
  })
})
