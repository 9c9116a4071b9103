/**
 * The policy a plane runs with when none is configured: deny-by-default network with no hosts,
 * no secrets, no inherited environment, the strong tiers, and a human's approval for any run
 * that asks for a network host. Strict on purpose; an organisation loosens it in its own file.
 */
import { Schema } from "effect"
import { PoolName } from "../protocol/Ids.js"
import type { Policy } from "../protocol/Policy.js"

export const defaultPolicy: Policy = {
  version: "warrant.policy.v1",
  pools: [Schema.decodeSync(PoolName)("default")],
  agents: ["mock", "command", "claude-code", "codex"],
  isolationTiers: ["hermetic", "namespace", "container", "vercel-sandbox", "process"],
  network: { defaultDeny: true, allowHosts: [] },
  releasableSecrets: [],
  inheritEnv: [],
  budget: { maxDurationMin: 60, maxTimeoutMs: 3_600_000 },
  consent: [],
  enforce: []
}
