/**
 * Pure translations of a run request: the draft contract it becomes (effective agent, filled-in
 * ceilings, secret grants scoped to the run) and the dry run's disclosure report. Create and dry
 * run share them, so what a dry run shows is what a contract would say.
 */
import type { UnsignedContract } from "../protocol/Contract.js"
import type { Sha256 } from "../protocol/Hash.js"
import type { Principal, RunId } from "../protocol/Ids.js"
import type { DisclosureReport, RunRequest } from "./ApiModel.js"
import type { Evaluation } from "./Policy.js"

export type Draft = Omit<UnsignedContract, "issuedAt" | "expiresAt" | "approvedBy">

/** The contract a request becomes, before the plane dates and signs it. */
export const draftOf = (runId: RunId, request: RunRequest, evaluation: Evaluation, requestedBy: Principal, policyHash: Sha256): Draft => {
  const secretNames = [...new Set(request.execution.env.secrets.map((s) => s.secretName))]
  const { timeoutMs: _requested, ...execution } = request.execution
  return {
    version: "warrant.contract.v1",
    runId,
    requestedBy,
    agent: { kind: evaluation.agent },
    task: request.task,
    execution: evaluation.timeoutMs === undefined ? execution : { ...execution, timeoutMs: evaluation.timeoutMs },
    runner: { pool: request.pool },
    workspace: request.workspace,
    policyHash,
    secrets: secretNames.map((name) => ({ name, scope: `run:${runId}` })),
    network: request.network,
    budget: evaluation.budget,
    disclosure: request.disclosure,
    isolation: { tier: request.isolation.tier, enforce: evaluation.enforce }
  }
}

/** What would cross the boundary if the request ran, and what policy says of it. */
export const disclosureReport = (
  request: RunRequest,
  evaluation: Evaluation,
  blobs: ReadonlyArray<{ hash: Sha256; size: number; uploaded: boolean }>,
  policyHash: Sha256
): DisclosureReport => ({
  decision: evaluation.decision,
  violations: evaluation.violations,
  consentRules: evaluation.consentRules,
  policyHash,
  requestedAgent: request.agent,
  agent: evaluation.agent,
  tier: request.isolation.tier,
  enforce: evaluation.enforce,
  pool: request.pool,
  files: request.workspace.files.map((f) => ({ path: f.path, hash: f.hash, size: f.size })),
  denied: request.workspace.denied,
  blobs,
  bytes: blobs.reduce((sum, b) => sum + b.size, 0),
  secrets: [...new Set(request.execution.env.secrets.map((s) => s.secretName))],
  inheritEnv: request.execution.env.inherit,
  network: {
    defaultDeny: request.network.defaultDeny,
    egressProxy: request.execution.env.egressProxy,
    allowHosts: request.network.allowHosts,
    allowAddresses: request.network.allowAddresses ?? []
  },
  ...(evaluation.timeoutMs === undefined ? {} : { timeoutMs: evaluation.timeoutMs }),
  budget: evaluation.budget,
  disclosure: request.disclosure
})
