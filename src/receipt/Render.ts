/**
 * A run's receipt bundle on one screen, answering the five questions: what moved, why,
 * who approved it, which runtime, hosts and secrets saw it, and how to inspect it.
 */
import type { Bundle } from "../protocol/Bundle.js"
import { dimensions } from "../protocol/Ids.js"

const short = (hash: string) => (hash.startsWith("sha256:") ? `${hash.slice(0, 19)}…` : hash)

export const renderBundle = (bundle: Bundle): string => {
  const { contract, receipt, events } = bundle
  const exit = events.map((e) => e.event).find((e) => e.type === "run.completed")
  const failed = events.map((e) => e.event).find((e) => e.type === "run.failed")
  const changed = events.flatMap((e) => (e.event.type === "file.changed" ? [`${e.event.path} (${e.event.change})`] : []))
  const ws = contract.workspace
  const hosts = receipt.networkAccessed.map((n) => `${n.host} ${n.decision}`)
  const matrix = receipt.sandbox === undefined
    ? "not attested"
    : dimensions.map((d) => `${d} ${receipt.sandbox!.matrix[d]}`).join(", ")
  const status = receipt.status +
    (exit !== undefined ? ` (exit ${exit.exitCode})` : failed !== undefined ? ` (${failed.failureClass}: ${failed.message})` : "")
  const pad = (label: string) => label.padEnd(13)
  return [
    `Run ${receipt.runId}: ${status}, ${receipt.startedAt} → ${receipt.endedAt}`,
    `${pad("What moved")}in: ${ws.files.length} file(s) shipped, manifest ${short(receipt.workspaceIn.manifestHash)}` +
    (ws.denied.length === 0 ? "" : `; denied: ${ws.denied.map((d) => `${d.path} (${d.pattern})`).join(", ")}`),
    `${pad("")}out: ${changed.length === 0 ? "no file changed" : changed.join(", ")}` +
    (receipt.workspaceOut.diffHash === undefined ? "" : `; diff ${short(receipt.workspaceOut.diffHash)}`),
    `${pad("Why")}${contract.agent.kind} agent, task ${JSON.stringify(contract.task.prompt.length > 80 ? `${contract.task.prompt.slice(0, 77)}...` : contract.task.prompt)}`,
    `${pad("Who approved")}requested by ${contract.requestedBy.kind} ${contract.requestedBy.id}; ` +
    (contract.approvedBy === undefined ? "no human approval needed under policy " : `approved by ${contract.approvedBy.kind} ${contract.approvedBy.id} under policy `) +
    short(contract.policyHash),
    `${pad("Runtime")}runner ${receipt.runner.runnerId} (pool ${receipt.runner.pool}, tier ${receipt.runner.isolation}, hardware attestation: ${receipt.runner.attestationTier})`,
    `${pad("")}enforcement: ${matrix}`,
    `${pad("Hosts")}${hosts.length === 0 ? "none contacted" : hosts.join("; ")}`,
    `${pad("Secrets")}${receipt.secretsReleased.length === 0 ? "none released" : receipt.secretsReleased.map((s) => `${s.name} (${s.scope}) at ${s.ts}`).join("; ")}`,
    `${pad("Inspect")}${receipt.eventCount} events, head ${short(receipt.eventsHead)}, Merkle root ${short(receipt.eventsTree.root)}`
  ].join("\n")
}
