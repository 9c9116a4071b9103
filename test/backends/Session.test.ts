import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import type { PreparedExecution } from "../../src/backends/Execution.js"
import type { Attestation } from "../../src/backends/Matrix.js"
import * as Select from "../../src/backends/Select.js"
import { runSession } from "../../src/backends/Session.js"
import type { Capability, Readiness, ReleasedSecret, SessionBackend, SessionResult } from "../../src/backends/SessionBackend.js"
import type { IsolationTier } from "../../src/protocol/Ids.js"

const execution: PreparedExecution = {
  agent: "command",
  command: { kind: "shell", shell: "sh", script: "true" },
  cwd: ".",
  timeoutMs: 1000,
  logMaxBytes: 1000,
  env: {},
  egressProxy: true,
  network: { defaultDeny: true, allowHosts: [] }
}

const result: SessionResult = { exitCode: 0, log: "", truncated: false, timedOut: false, redactions: {}, network: [] }
const attesting: Capability = { read: "attested", write: "attested", command: "enforced", network: "attested", env: "enforced" }

/** A backend that records whether it ran, so a refusal can be shown to happen before anything runs. */
const fake = (tier: IsolationTier, options: { readiness?: Readiness; unsupported?: string; capability?: Capability } = {}) => {
  const runs: Array<string> = []
  const backend: SessionBackend = {
    tier,
    probe: Effect.succeed(options.readiness ?? { ready: true }),
    capability: options.capability ?? attesting,
    unsupported: () => options.unsupported,
    run: () => Effect.sync(() => void runs.push(tier)).pipe(Effect.as(result))
  }
  return { backend, runs }
}

const session = (tier: IsolationTier, enforce: ReadonlyArray<"network" | "env"> = []) => ({
  tier,
  execution,
  workspace: "/tmp/ws",
  secrets: [] as ReadonlyArray<ReleasedSecret>,
  required: ["read", "write", "network", "env"] as const,
  enforce
})

const run = (backends: ReadonlyArray<SessionBackend>, s: ReturnType<typeof session>, onAttested?: (a: Attestation) => Effect.Effect<void>) =>
  runSession(s, onAttested).pipe(Effect.provide(Select.layer(backends.map((b) => Effect.succeed(b)))), Effect.exit)

describe("assembling the tiers", () => {
  it.effect("two backends for one tier are refused when the runner is built", () =>
    Effect.gen(function*() {
      const exit = yield* run([fake("process").backend, fake("process").backend], session("process"))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        _tag: "CapabilityMismatch",
        tier: "process",
        reason: "two backends were configured for this tier; a runner takes one per tier"
      })))
    }))
})

describe("selecting a tier", () => {
  it.effect("an absent tier is a CapabilityMismatch naming what the runner offers", () =>
    Effect.gen(function*() {
      const exit = yield* run([fake("process").backend], session("hermetic"))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        _tag: "CapabilityMismatch",
        tier: "hermetic",
        agent: "command",
        reason: "this runner has no hermetic backend (it offers: process)"
      })))
    }))

  it.effect("a tier whose probe fails is a CapabilityMismatch with the probe's reasons; nothing runs", () =>
    Effect.gen(function*() {
      const namespace = fake("namespace", { readiness: { ready: false, reasons: ["bwrap not found", "user namespaces disabled"] } })
      const exit = yield* run([namespace.backend], session("namespace"))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        _tag: "CapabilityMismatch",
        reason: "the tier is not ready on this host: bwrap not found; user namespaces disabled"
      })))
      expect(namespace.runs).toEqual([])
    }))

  it.effect("an execution the tier cannot run is a CapabilityMismatch with the tier's reason; nothing runs", () =>
    Effect.gen(function*() {
      const hermetic = fake("hermetic", { unsupported: "the hermetic tier runs shell scripts only" })
      const exit = yield* run([hermetic.backend], session("hermetic"))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "CapabilityMismatch", reason: "the hermetic tier runs shell scripts only" })))
      expect(hermetic.runs).toEqual([])
    }))
})

describe("the matrix before the run", () => {
  it.effect("a demanded dimension the tier only attests fails closed with SandboxUnenforceable before anything runs", () =>
    Effect.gen(function*() {
      const processTier = fake("process")
      const attested: Array<Attestation> = []
      const exit = yield* run([processTier.backend], session("process", ["network"]), (a) => Effect.sync(() => void attested.push(a)))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "SandboxUnenforceable", tier: "process", dimensions: ["network"] })))
      expect(processTier.runs).toEqual([])
      expect(attested).toEqual([])
    }))

  it.effect("the attestation is handed over before the session runs, then the result", () =>
    Effect.gen(function*() {
      const order: Array<string> = []
      const processTier = fake("process")
      const backend: SessionBackend = { ...processTier.backend, run: () => Effect.sync(() => void order.push("run")).pipe(Effect.as(result)) }
      const exit = yield* run([backend], session("process", ["env"]), (a) => Effect.sync(() => void order.push(`attested ${a.tier}`)))
      expect(exit).toEqual(Exit.succeed({
        attestation: { tier: "process", matrix: attesting, required: ["read", "write", "network", "env"], enforce: ["env"] },
        result
      }))
      expect(order).toEqual(["attested process", "run"])
    }))
})

describe("secrets in network records", () => {
  it.effect("a secret a program put into a host name is redacted from the records, and counted", () =>
    Effect.gen(function*() {
      const leaky: SessionBackend = {
        ...fake("process").backend,
        run: () =>
          Effect.succeed({
            ...result,
            redactions: { TOKEN: 1 },
            network: [{
              id: 0,
              kind: "http" as const,
              host: "tok-abcdef.evil.test",
              port: 80,
              decision: "blocked" as const,
              reason: "not-allowlisted" as const,
              detail: "tok-abcdef.evil.test is not in the allowlist"
            }]
          })
      }
      const s = { ...session("process"), secrets: [{ name: "TOKEN", value: Redacted.make("tok-abcdef") }] }
      const exit = yield* run([leaky], s)
      expect(Exit.map(exit, (o) => [o.result.network, o.result.redactions])).toEqual(Exit.succeed([
        [{
          id: 0,
          kind: "http",
          host: "[REDACTED:TOKEN].evil.test",
          port: 80,
          decision: "blocked",
          reason: "not-allowlisted",
          detail: "[REDACTED:TOKEN].evil.test is not in the allowlist"
        }],
        { TOKEN: 3 }
      ]))
    }))
})
