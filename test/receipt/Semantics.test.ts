/**
 * Bundles that are cryptographically perfect — re-signed and re-linked with the real keys —
 * but say something untrue or unsafe. Only the verifier's semantic checks can catch these.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { treeHead } from "../../src/chain/EventsTree.js"
import { entryHash } from "../../src/chain/Link.js"
import type { SignerShape } from "../../src/crypto/Signer.js"
import type { ChainEntry } from "../../src/protocol/Event.js"
import { hashCanonical } from "../../src/protocol/Hash.js"
import type { Signature } from "../../src/protocol/Signature.js"
import { summarize } from "../../src/receipt/Summary.js"
import { verifyBundle } from "../../src/receipt/Verify.js"
import { sampleRun } from "../../src/testkit/SampleRun.js"
import type { Json } from "../support/WireJson.js"

const orThrow = <A>(e: Either.Either<A, unknown>): A => Either.getOrThrowWith(e, (l) => new Error(String(l)))

/** Re-signs the contract, re-links the chain, rewrites every receipt summary and re-signs it. */
const reseal = (json: Json, plane: SignerShape, runner: SignerShape) =>
  Effect.gen(function*() {
    json.contract.signatures = []
    json.contract.signatures = [yield* plane.signObject("contract", "issuer", json.contract)]
    const genesis = orThrow(hashCanonical(json.contract))
    let prev: string = genesis
    json.events.forEach((e: Json, i: number) => {
      e.seq = i
      e.prevHash = prev
      e.hash = orThrow(entryHash(e))
      prev = e.hash
    })
    const s = summarize(json.events as ReadonlyArray<ChainEntry>)
    Object.assign(json.receipt, {
      contractHash: genesis,
      eventsHead: prev,
      eventCount: json.events.length,
      eventsTree: treeHead(json.events.map((e: Json) => e.hash)),
      // A chain without a terminal event has no status to derive; the forger keeps the claim.
      status: s.status ?? json.receipt.status,
      startedAt: s.startedAt,
      endedAt: s.endedAt,
      secretsReleased: s.secretsReleased,
      networkAccessed: s.networkAccessed,
      boundaryDisclosures: s.boundaryDisclosures,
      sandbox: s.sandbox,
      workspaceIn: { manifestHash: orThrow(hashCanonical(json.contract.workspace)) },
      workspaceOut: { ...(s.diffHash === undefined ? {} : { diffHash: s.diffHash }), artifactHashes: s.artifactHashes }
    })
    const sig: Signature = yield* runner.signObject("receipt", "runner", { ...json.receipt, signatures: [] })
    const counter: Signature = yield* plane.signObject("receipt", "plane", { ...json.receipt, signatures: [sig] }, [sig])
    json.receipt.signatures = [sig, counter]
  })

/** A valid bundle, changed by `edit`, then resealed so every hash and signature is right. */
const forged = (edit: (json: Json) => void) =>
  Effect.gen(function*() {
    const run = yield* sampleRun()
    const json: Json = JSON.parse(JSON.stringify(run.bundle))
    edit(json)
    yield* reseal(json, run.plane, run.runner)
    return verifyBundle(json).problems.map((p) => `${p.code} @ ${p.where}`)
  })

const indexOf = (json: Json, type: string) => json.events.findIndex((e: Json) => e.event.type === type)

describe("semantic checks on correctly signed bundles", () => {
  it.effect("resealing an unchanged bundle keeps it valid (the forger's tool is faithful)", () =>
    Effect.gen(function*() {
      expect(yield* forged(() => {})).toEqual([])
    }))

  it.effect("a command that ran before any sandbox attestation", () =>
    Effect.gen(function*() {
      const problems = yield* forged((json) => {
        const a = indexOf(json, "sandbox.attested")
        const c = indexOf(json, "command.executed")
        ;[json.events[a], json.events[c]] = [json.events[c], json.events[a]]
      })
      expect(problems).toEqual(["receipt.dishonest-tier @ $.events[2]"])
    }))

  it.effect("a run with no sandbox attestation at all", () =>
    Effect.gen(function*() {
      const problems = yield* forged((json) => {
        json.events.splice(indexOf(json, "sandbox.attested"), 1)
      })
      expect(problems).toEqual(["receipt.dishonest-tier @ $.events[2]"])
    }))

  it.effect("a contract demanding network enforcement, run on a tier that only attests it", () =>
    Effect.gen(function*() {
      const problems = yield* forged((json) => {
        json.contract.isolation.enforce = ["network"]
      })
      expect(problems).toEqual(["receipt.dishonest-tier @ $.receipt.sandbox.matrix"])
    }))

  it.effect("a sandbox attested for another tier than the receipt claims", () =>
    Effect.gen(function*() {
      const problems = yield* forged((json) => {
        json.events[indexOf(json, "sandbox.attested")].event.tier = "namespace"
      })
      expect(problems).toEqual(["receipt.dishonest-tier @ $.receipt.sandbox.tier"])
    }))

  it.effect("a receipt naming another tier than the contract asked for", () =>
    Effect.gen(function*() {
      const problems = yield* forged((json) => {
        json.receipt.runner.isolation = "hermetic"
        json.events[indexOf(json, "sandbox.attested")].event.tier = "hermetic"
      })
      expect(problems).toEqual(["receipt.runner-mismatch @ $.receipt.runner"])
    }))

  it.effect("a run claimed after its contract expired", () =>
    Effect.gen(function*() {
      const problems = yield* forged((json) => {
        const late = new Date(Date.parse(json.contract.expiresAt) + 1).toISOString()
        for (const e of json.events) e.ts = late
      })
      expect(problems).toEqual(["contract.used-outside-validity @ $.events[0].ts"])
    }))

  it.effect("a run claimed before its contract was issued (beyond clock skew)", () =>
    Effect.gen(function*() {
      const problems = yield* forged((json) => {
        json.contract.issuedAt = new Date(Date.parse(json.events[0].ts) + 61_000).toISOString()
        json.contract.expiresAt = new Date(Date.parse(json.events[0].ts) + 3_600_000).toISOString()
      })
      expect(problems).toEqual(["contract.used-outside-validity @ $.events[0].ts"])
    }))

  it.effect("time running backwards inside the chain", () =>
    Effect.gen(function*() {
      const problems = yield* forged((json) => {
        json.events[3].ts = "2000-01-01T00:00:00.000Z"
      })
      // Entry 3 now claims a later time than entry 4, whose timestamp therefore goes backwards.
      expect(problems).toEqual(["chain.ts @ $.events[4]"])
    }))

  it.effect("an event recorded after the run ended", () =>
    Effect.gen(function*() {
      const problems = yield* forged((json) => {
        json.events.push({ ...json.events[indexOf(json, "network.connected")] })
      })
      expect(problems).toEqual([
        "chain.afterTerminal @ $.events[9]",
        "chain.unterminated @ $.events",
        "receipt.summary-mismatch @ $.receipt.status"
      ])
    }))

  it.effect("a receipt for another run", () =>
    Effect.gen(function*() {
      const problems = yield* forged((json) => {
        json.receipt.runId = "some-other-run"
      })
      expect(problems).toEqual(["receipt.run-mismatch @ $.receipt.runId"])
    }))

  it.effect("a claim by another runner than the one that signed", () =>
    Effect.gen(function*() {
      const problems = yield* forged((json) => {
        json.events[indexOf(json, "run.claimed")].event.runnerId = "runner-2"
      })
      expect(problems).toEqual(["receipt.runner-mismatch @ $.events[0]"])
    }))
})

describe("signature layout", () => {
  const layout = (edit: (json: Json, extra: { plane: SignerShape; runner: SignerShape }) => Effect.Effect<void>) =>
    Effect.gen(function*() {
      const run = yield* sampleRun()
      const json: Json = JSON.parse(JSON.stringify(run.bundle))
      yield* edit(json, run)
      return verifyBundle(json).problems.map((p) => `${p.code} @ ${p.where}`)
    })

  it.effect("an unsigned receipt", () =>
    Effect.gen(function*() {
      const problems = yield* layout((json) => Effect.sync(() => void (json.receipt.signatures = [])))
      expect(problems).toEqual([
        "receipt.signature-missing @ $.receipt.signatures[0]",
        "receipt.countersignature-missing @ $.receipt.signatures"
      ])
    }))

  it.effect("an unsigned contract", () =>
    Effect.gen(function*() {
      const problems = yield* layout((json) => Effect.sync(() => void (json.contract.signatures = [])))
      expect(problems).toEqual([
        "contract.signature-missing @ $.contract.signatures",
        "chain.prevHash @ $.events[0]",
        "receipt.contract-hash-mismatch @ $.receipt.contractHash"
      ])
    }))

  it.effect("a third signature on the receipt", () =>
    Effect.gen(function*() {
      const problems = yield* layout((json) => Effect.sync(() => void json.receipt.signatures.push(json.receipt.signatures[1])))
      expect(problems).toEqual(["receipt.unexpected-signature @ $.receipt.signatures[2]"])
    }))

  it.effect("the runner's signature where the plane's countersignature belongs", () =>
    Effect.gen(function*() {
      const problems = yield* layout((json) => Effect.sync(() => void (json.receipt.signatures[1] = json.receipt.signatures[0])))
      expect(problems).toEqual(["receipt.unexpected-signature @ $.receipt.signatures[1]"])
    }))

  it.effect("the signatures in the wrong order", () =>
    Effect.gen(function*() {
      const problems = yield* layout((json) => Effect.sync(() => void json.receipt.signatures.reverse()))
      expect(problems).toEqual([
        "receipt.signature-missing @ $.receipt.signatures[0]",
        "receipt.unexpected-signature @ $.receipt.signatures[1]"
      ])
    }))
})
