import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { verifyBundle } from "../../src/receipt/Verify.js"
import * as TestPlane from "../../src/testkit/TestPlane.js"
import { completeOne, enrollRunner, principals, request } from "./support/PlaneKit.js"

describe("a run through the plane", () => {
  it.live("is created, claimed, recorded, completed, countersigned and bundled for offline verification", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const created = yield* p.requester.runs.create({ payload: request() })
      expect(created._tag).toBe("created")
      if (created._tag !== "created") return
      expect(created.run.state).toBe("queued")
      expect(created.contract?.agent.kind).toBe("command")

      const runner = yield* enrollRunner(p, "runner-a")
      const { claimed, completed, runId } = yield* completeOne(p, runner)
      expect(claimed.contract.runId).toBe(created.run.runId)
      expect(claimed.entries.map((e) => e.event.type)).toEqual(["run.created", "policy.evaluated", "run.claimed"])
      expect(completed.run.state).toBe("completed")
      expect(completed.receipt.signatures.map((s) => s.role)).toEqual(["runner", "plane"])

      const bundle = yield* p.requester.runs.bundle({ path: { runId } })
      const verdict = verifyBundle(JSON.parse(JSON.stringify(bundle)), {
        trustedKeys: [{ keyId: p.planeKey.keyId, roles: ["issuer", "plane"] }, { keyId: runner.signer.keyId, roles: ["runner"] }]
      })
      expect(verdict.problems).toEqual([])
      expect(verdict.valid).toBe(true)
    }).pipe(Effect.provide(TestPlane.layer())))
})
