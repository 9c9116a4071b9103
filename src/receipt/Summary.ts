/**
 * What a receipt says about a run, derived from its events alone. The builder writes these
 * summaries and the verifier re-derives them, so the two can never drift apart.
 */
import type { ChainEntry, NetworkDecision } from "../protocol/Event.js"
import type { Sha256 } from "../protocol/Hash.js"
import type { Receipt, RunStatus } from "../protocol/Receipt.js"

export interface RunSummary {
  readonly status: RunStatus | undefined
  readonly startedAt: ChainEntry["ts"] | undefined
  readonly endedAt: ChainEntry["ts"] | undefined
  readonly secretsReleased: Receipt["secretsReleased"]
  readonly networkAccessed: Receipt["networkAccessed"]
  readonly boundaryDisclosures: Receipt["boundaryDisclosures"]
  readonly sandbox: Receipt["sandbox"]
  readonly manifestHash: Sha256 | undefined
  readonly diffHash: Sha256 | undefined
  readonly artifactHashes: ReadonlyArray<Sha256>
}

const statusOf = (type: ChainEntry["event"]["type"] | undefined): RunStatus | undefined =>
  type === "run.completed" ? "completed" : type === "run.failed" ? "failed" : type === "run.cancelled" ? "cancelled" : undefined

export const summarize = (entries: ReadonlyArray<ChainEntry>): RunSummary => {
  const secretsReleased: Array<Receipt["secretsReleased"][number]> = []
  const boundaryDisclosures: Array<Receipt["boundaryDisclosures"][number]> = []
  const artifactHashes: Array<Sha256> = []
  // host -> decisions in first-seen order; nested maps instead of "host|decision" keys,
  // because hosts (IPv6 literals) may contain any separator.
  const network = new Map<string, Set<NetworkDecision>>()
  let sandbox: Receipt["sandbox"] = undefined
  let manifestHash: Sha256 | undefined
  let diffHash: Sha256 | undefined

  for (const { event, ts } of entries) {
    switch (event.type) {
      case "secret.released":
        secretsReleased.push({ name: event.name, scope: event.scope, ts })
        break
      case "network.connected": {
        const decisions = network.get(event.host) ?? new Set()
        decisions.add(event.decision)
        network.set(event.host, decisions)
        break
      }
      case "boundary.crossed":
        boundaryDisclosures.push({ direction: event.direction, contentHash: event.contentHash, dataClass: event.dataClass })
        break
      case "sandbox.attested":
        sandbox = { tier: event.tier, matrix: event.matrix, required: event.required, enforce: event.enforce }
        break
      case "workspace.materialized":
        manifestHash = event.manifestHash
        break
      case "artifact.created":
        artifactHashes.push(event.hash)
        if (event.kind === "diff") diffHash = event.hash
        break
    }
  }

  return {
    status: statusOf(entries.at(-1)?.event.type),
    startedAt: entries[0]?.ts,
    endedAt: entries.at(-1)?.ts,
    secretsReleased,
    networkAccessed: [...network].flatMap(([host, decisions]) => [...decisions].map((decision) => ({ host, decision }))),
    boundaryDisclosures,
    sandbox,
    manifestHash,
    diffHash,
    artifactHashes
  }
}
