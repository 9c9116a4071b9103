import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import { discloseEvent } from "../../src/chain/EventsTree.js"
import { generateKey } from "../../src/crypto/Ed25519.js"
import * as Signer from "../../src/crypto/Signer.js"
import { verifyEventDisclosure } from "../../src/receipt/Disclosure.js"
import { sampleRun } from "../../src/testkit/SampleRun.js"
import { setAt, wire } from "../support/WireJson.js"

// What a run's owner hands a third party: the receipt and one event with its audit path.
const handout = (index: number) =>
  Effect.map(sampleRun(), (run) => ({
    run,
    receipt: wire(run.receipt),
    disclosure: wire(discloseEvent(run.entries, index)),
    trustedKeys: [run.plane.record, run.runner.record]
  }))

const left = (result: Either.Either<unknown, string>): string => (Either.isLeft(result) ? result.left : "proven")

describe("verifyEventDisclosure", () => {
  it.effect("proves the disclosed network decision against the signed receipt alone", () =>
    Effect.gen(function*() {
      const { receipt, disclosure, trustedKeys, run } = yield* handout(5)
      const result = verifyEventDisclosure({ receipt, disclosure }, { trustedKeys })
      expect(Either.isRight(result) && result.right.disclosure.entry).toEqual(run.entries[5])
      expect(Either.isRight(result) && result.right.receipt.runId).toBe(run.receipt.runId)
    }))

  it.effect("refuses a receipt signed by a key the verifier does not trust", () =>
    Effect.gen(function*() {
      const { receipt, disclosure, run } = yield* handout(2)
      const stranger = Signer.make(Redacted.make(generateKey().secretKey))
      expect(left(verifyEventDisclosure({ receipt, disclosure }, { trustedKeys: [run.plane.record, stranger.record] }))).toBe(
        `the receipt's runner key ${run.runner.keyId} is not trusted`
      )
    }))

  it.effect("refuses a receipt whose tree head was changed", () =>
    Effect.gen(function*() {
      const { receipt, disclosure, trustedKeys } = yield* handout(2)
      const forged = setAt(receipt, ["eventsTree", "size"], 99)
      expect(left(verifyEventDisclosure({ receipt: forged, disclosure }, { trustedKeys }))).toContain("ed25519 verification failed")
    }))

  it.effect("refuses an event altered after disclosure", () =>
    Effect.gen(function*() {
      const { receipt, disclosure, trustedKeys, run } = yield* handout(4)
      expect(run.entries[4]!.event).toMatchObject({ type: "network.connected", decision: "allowed" })
      const altered = setAt(disclosure, ["entry", "event", "decision"], "blocked")
      expect(left(verifyEventDisclosure({ receipt, disclosure: altered }, { trustedKeys }))).toBe(
        "the disclosed entry does not hash to its stated hash"
      )
    }))

  it.effect("refuses an event of another run presented with this receipt", () =>
    Effect.gen(function*() {
      const first = yield* handout(3)
      const other = yield* sampleRun({ runId: "another-run", plane: first.run.plane, runner: first.run.runner })
      const foreign = wire(discloseEvent(other.entries, 3))
      expect(left(verifyEventDisclosure({ receipt: first.receipt, disclosure: foreign }, { trustedKeys: first.trustedKeys }))).toBe(
        "the audit path does not lead to the receipt's tree root"
      )
    }))

  it.effect("refuses a receipt without the plane's countersignature", () =>
    Effect.gen(function*() {
      const { receipt, disclosure, trustedKeys } = yield* handout(1)
      const bare = setAt(receipt, ["signatures"], [(receipt as { signatures: Array<unknown> }).signatures[0]])
      expect(left(verifyEventDisclosure({ receipt: bare, disclosure }, { trustedKeys }))).toBe(
        "the receipt must carry exactly the runner's signature and the plane's countersignature"
      )
    }))
})
