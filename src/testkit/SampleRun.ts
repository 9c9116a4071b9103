/**
 * A complete, signed sample run — contract, chain, countersigned receipt, bundle — built
 * through the real services. The demo, the benchmarks and users' own tests start here.
 */
import { Clock, Effect, Layer, Redacted, Schema } from "effect"
import { make as makeChain } from "../chain/EventChain.js"
import { ContractSigning, layer as contractSigningLayer } from "../crypto/ContractSigning.js"
import { generateKey } from "../crypto/Ed25519.js"
import * as Signer from "../crypto/Signer.js"
import type { UnsignedContract } from "../protocol/Contract.js"
import { policyHash } from "../protocol/Digest.js"
import type { RunEvent } from "../protocol/Event.js"
import { sha256 } from "../protocol/Hash.js"
import { PoolName, RunId, RunnerId, timestampOf } from "../protocol/Ids.js"
import type { Policy } from "../protocol/Policy.js"
import { WorkspacePath } from "../protocol/WorkspacePath.js"
import { countersignReceipt, makeBundle, signReceipt } from "../receipt/ReceiptBuilder.js"

// Branded values through their schemas, so the sample can never hold what decoding would refuse.
const path = Schema.decodeSync(WorkspacePath)
const pool = Schema.decodeSync(PoolName)("default")

export const samplePolicy: Policy = {
  version: "warrant.policy.v1",
  pools: [pool],
  agents: ["mock", "command"],
  isolationTiers: ["process", "hermetic", "namespace"],
  network: { defaultDeny: true, allowHosts: ["registry.npmjs.org"] },
  releasableSecrets: [],
  inheritEnv: [],
  budget: { maxDurationMin: 30, maxTimeoutMs: 600_000 },
  consent: [],
  enforce: []
}

export const sampleContract = (options: { readonly runId: RunId; readonly now: number; readonly prompt?: string }): UnsignedContract => ({
  version: "warrant.contract.v1",
  runId: options.runId,
  issuedAt: timestampOf(options.now),
  expiresAt: timestampOf(options.now + 15 * 60_000),
  requestedBy: { kind: "human", id: "alice@example.com" },
  agent: { kind: "command" },
  task: { prompt: options.prompt ?? "npm test" },
  execution: {
    command: { kind: "shell", shell: "sh", script: options.prompt ?? "npm test" },
    cwd: path("."),
    timeoutMs: 300_000,
    log: { maxBytes: 1_048_576 },
    env: { inherit: [], vars: { CI: "1" }, secrets: [], egressProxy: true }
  },
  runner: { pool: pool },
  workspace: {
    version: "warrant.manifest.v1",
    source: "directory",
    files: [{ path: path("package.json"), hash: sha256("{\"name\":\"demo\"}\n"), size: 16 }],
    denied: [{ path: path(".env"), pattern: ".env*" }],
    deniedPatterns: [".env*", "*.pem", "*.key"]
  },
  policyHash: policyHash(samplePolicy),
  secrets: [],
  network: { defaultDeny: true, allowHosts: ["registry.npmjs.org"] },
  budget: { maxDurationMin: 15 },
  disclosure: "metadata-only",
  isolation: { tier: "process", enforce: [] }
})

/** What the process tier attests of a session, as a software runner honestly records it. */
export const processAttested: RunEvent = {
  type: "sandbox.attested",
  tier: "process",
  matrix: { read: "attested", write: "attested", command: "enforced", network: "attested", env: "enforced" },
  required: ["read", "write", "network", "env"],
  enforce: []
}

/** The events of a short governed run: claimed, materialised, attested, executed, one block, done. */
export const sampleEvents = (input: { readonly runnerId: RunnerId; readonly keyId: Signer.SignerShape["keyId"]; readonly manifestHash: ReturnType<typeof sha256>; readonly extraNetwork?: number }): ReadonlyArray<RunEvent> => [
  { type: "run.claimed", runnerId: input.runnerId, keyId: input.keyId, pool: pool },
  { type: "workspace.materialized", manifestHash: input.manifestHash },
  processAttested,
  { type: "command.executed", argvHash: sha256("sh\0-c\0npm test"), exitCode: 0, durationMs: 1234 },
  { type: "network.connected", host: "registry.npmjs.org", port: 443, decision: "allowed", reason: "allowlisted" },
  ...Array.from({ length: input.extraNetwork ?? 0 }, (_, i): RunEvent => ({
    type: "network.connected",
    host: `host-${i % 50}.example.com`,
    port: 443,
    decision: i % 3 === 0 ? "allowed" : "blocked",
    reason: i % 3 === 0 ? "allowlisted" : "not in allowHosts"
  })),
  { type: "network.connected", host: "169.254.169.254", port: 80, decision: "blocked", reason: "cloud metadata address" },
  { type: "file.changed", path: path("src/index.ts"), change: "modified", contentHash: sha256("export {}\n") },
  { type: "artifact.created", kind: "diff", hash: sha256("diff --git a/src/index.ts b/src/index.ts\n"), size: 42 },
  { type: "run.completed", exitCode: 0 }
]

export interface SampleRunOptions {
  readonly runId?: string
  /** Additional network events, to make large chains for benchmarks. */
  readonly extraEvents?: number
  /** The plane's signer (issues and countersigns); a fresh key when absent. */
  readonly plane?: Signer.SignerShape
  /** The runner's signer; a fresh key when absent. */
  readonly runner?: Signer.SignerShape
}

const freshSigner = () => Signer.make(Redacted.make(generateKey().secretKey))

/** Issues, runs (on paper), signs and countersigns one run with the real services. */
export const sampleRun = (options: SampleRunOptions = {}) =>
  Effect.gen(function*() {
    const plane = options.plane ?? freshSigner()
    const runner = options.runner ?? freshSigner()
    const now = yield* Clock.currentTimeMillis
    const runId = Schema.decodeSync(RunId)(options.runId ?? `run-${now.toString(36)}`)

    const signing = yield* Effect.provide(ContractSigning, contractSigningLayer().pipe(Layer.provide(Layer.succeed(Signer.Signer, plane))))
    const issued = yield* signing.issue(sampleContract({ runId, now }))
    const verified = yield* signing.verify(issued)

    const chain = yield* makeChain(verified.contractHash)
    const runnerId = Schema.decodeSync(RunnerId)("runner-1")
    for (const event of sampleEvents({ runnerId, keyId: runner.keyId, manifestHash: verified.manifestHash, extraNetwork: options.extraEvents ?? 0 })) {
      yield* chain.append(event)
    }
    const entries = yield* chain.entries
    const signed = yield* signReceipt({ contract: verified, entries, runner: { runnerId, pool: pool, isolation: "process" } }).pipe(
      Effect.provideService(Signer.Signer, runner)
    )
    const receipt = yield* countersignReceipt(signed).pipe(Effect.provideService(Signer.Signer, plane))
    const bundle = makeBundle({ contract: issued, entries, receipt, keys: [plane.record, runner.record] })
    return { contract: issued, verified, entries, receipt, bundle, plane, runner }
  })
