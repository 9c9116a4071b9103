/**
 * Assembling the tiers a runner offers (one backend per tier) and choosing the one a run
 * asked for: absent, not ready, or unable to run the execution is a CapabilityMismatch.
 */
import { Effect, Layer } from "effect"
import type { IsolationTier } from "../protocol/Ids.js"
import type { PreparedExecution } from "./Execution.js"
import { CapabilityMismatch, type SessionBackend, SessionBackends } from "./SessionBackend.js"

/** The registry from the tiers the operator picked; two backends for one tier is refused. */
export const layer = <E, R>(
  backends: ReadonlyArray<Effect.Effect<SessionBackend, E, R>>
): Layer.Layer<SessionBackends, E | CapabilityMismatch, R> =>
  Layer.effect(
    SessionBackends,
    Effect.gen(function*() {
      const all = yield* Effect.all(backends)
      const seen = new Set<IsolationTier>()
      for (const backend of all) {
        if (seen.has(backend.tier)) {
          return yield* new CapabilityMismatch({ tier: backend.tier, reason: "two backends were configured for this tier; a runner takes one per tier" })
        }
        seen.add(backend.tier)
      }
      return { all }
    })
  )

export const select = (tier: IsolationTier, execution: PreparedExecution) =>
  Effect.gen(function*() {
    const { all } = yield* SessionBackends
    const backend = all.find((b) => b.tier === tier)
    const offered = all.map((b) => b.tier).join(", ") || "none"
    if (backend === undefined) {
      return yield* new CapabilityMismatch({ tier, agent: execution.agent, reason: `this runner has no ${tier} backend (it offers: ${offered})` })
    }
    const readiness = yield* backend.probe
    if (!readiness.ready) {
      return yield* new CapabilityMismatch({ tier, agent: execution.agent, reason: `the tier is not ready on this host: ${readiness.reasons.join("; ")}` })
    }
    const unsupported = backend.unsupported(execution)
    if (unsupported !== undefined) return yield* new CapabilityMismatch({ tier, agent: execution.agent, reason: unsupported })
    return backend
  })
