/**
 * The pieces of a run through a plane that tests, benchmarks and the demo share: a request the
 * sample policy allows, and a runner's side of a claimed run — verify the contract, continue the
 * plane's chain, sign the receipt.
 */
import { Effect, Redacted, Schema } from "effect"
import { make as makeChain } from "../chain/EventChain.js"
import { verifyWith } from "../crypto/ContractSigning.js"
import { generateKey } from "../crypto/Ed25519.js"
import * as Signer from "../crypto/Signer.js"
import type { Claimed, RunRequest } from "../plane/ApiModel.js"
import { Contract } from "../protocol/Contract.js"
import type { ChainEntry, RunEvent } from "../protocol/Event.js"
import { sha256 } from "../protocol/Hash.js"
import { PoolName, type RunnerId } from "../protocol/Ids.js"
import type { PublicKeyRecord } from "../protocol/Signature.js"
import { WorkspacePath } from "../protocol/WorkspacePath.js"
import { signReceipt } from "../receipt/ReceiptBuilder.js"
import { processAttested } from "./SampleRun.js"

export const path = Schema.decodeSync(WorkspacePath)
export const pool = Schema.decodeSync(PoolName)("default")
export const encodeContract = Schema.encodeSync(Contract)

export const freshSigner = () => Signer.make(Redacted.make(generateKey().secretKey))

/** A request the sample policy allows: a shell command on the process tier, one allowed host, an empty directory workspace. */
export const request = (overrides: Partial<RunRequest> = {}): RunRequest => ({
  agent: "command",
  task: { prompt: "npm test" },
  execution: {
    command: { kind: "shell", shell: "sh", script: "npm test" },
    cwd: path("."),
    timeoutMs: 60_000,
    log: { maxBytes: 65_536 },
    env: { inherit: [], vars: { CI: "1" }, secrets: [], egressProxy: true }
  },
  pool,
  isolation: { tier: "process", enforce: [] },
  workspace: {
    version: "warrant.manifest.v1",
    source: "directory",
    files: [],
    denied: [],
    deniedPatterns: []
  },
  network: { defaultDeny: true, allowHosts: ["registry.npmjs.org"] },
  budget: { maxDurationMin: 10 },
  disclosure: "metadata-only",
  ...overrides
})

/** The events a runner adds after the plane's claim entries, ending in `run.completed`. */
export const runnerEvents = (manifestHash: ChainEntry["hash"]): ReadonlyArray<RunEvent> => [
  { type: "workspace.materialized", manifestHash },
  processAttested,
  { type: "command.executed", argvHash: sha256("sh\0-c\0npm test"), exitCode: 0, durationMs: 12 },
  { type: "network.connected", host: "registry.npmjs.org", port: 443, decision: "allowed", reason: "allowlisted" },
  { type: "run.completed", exitCode: 0 }
]

export interface RunnerIdentity {
  readonly runnerId: RunnerId
  readonly signer: Signer.SignerShape
}

/** The runner's side: verify the contract, continue the chain with `events`, sign the receipt. */
export const runnerSide = (
  p: { readonly planeKey: PublicKeyRecord },
  runner: RunnerIdentity,
  claimed: Claimed,
  events?: (manifestHash: ChainEntry["hash"]) => ReadonlyArray<RunEvent>
) =>
  Effect.gen(function*() {
    const verified = yield* verifyWith({ trustedIssuers: [p.planeKey] })(encodeContract(claimed.contract))
    const chain = yield* makeChain(verified.contractHash, claimed.entries)
    for (const event of (events ?? runnerEvents)(verified.manifestHash)) yield* chain.append(event)
    const entries = yield* chain.entries
    const receipt = yield* signReceipt({ contract: verified, entries, runner: { runnerId: runner.runnerId, pool: claimed.contract.runner.pool, isolation: "process" } }).pipe(
      Effect.provideService(Signer.Signer, runner.signer)
    )
    return { verified, entries, fresh: entries.slice(claimed.entries.length), receipt }
  })
