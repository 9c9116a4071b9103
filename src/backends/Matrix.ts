/**
 * The enforcement matrix: which dimensions a run requires at least attested, which it
 * demands enforced, and whether a tier's capability covers both — decided before anything
 * runs, and recorded as `sandbox.attested`. Pure.
 */
import { Either } from "effect"
import type { Contract } from "../protocol/Contract.js"
import { type Dimension, dimensions, type IsolationTier } from "../protocol/Ids.js"
import type { Policy } from "../protocol/Policy.js"
import { type Capability, SandboxUnenforceable } from "./SessionBackend.js"

export interface Attestation {
  readonly tier: IsolationTier
  readonly matrix: Capability
  readonly required: ReadonlyArray<Dimension>
  readonly enforce: ReadonlyArray<Dimension>
}

/**
 * Read and write always; network whenever the policy denies by default; env whenever the
 * environment is not inherited wholesale (a list of names never is); command when the policy
 * carries a command allowlist.
 */
export const requiredDimensions = (contract: Contract, policy: Pick<Policy, "commands">): ReadonlyArray<Dimension> =>
  dimensions.filter((dimension) => {
    switch (dimension) {
      case "read":
      case "write":
      case "env":
        return true
      case "network":
        return contract.network.defaultDeny
      case "command":
        return policy.commands !== undefined
    }
  })

/** What the contract and its policy demand be enforced, not merely attested. */
export const demandedDimensions = (contract: Contract, policy: Pick<Policy, "enforce">): ReadonlyArray<Dimension> =>
  dimensions.filter((d) => contract.isolation.enforce.includes(d) || policy.enforce.includes(d))

export const attest = (
  tier: IsolationTier,
  capability: Capability,
  required: ReadonlyArray<Dimension>,
  enforce: ReadonlyArray<Dimension>
): Either.Either<Attestation, SandboxUnenforceable> => {
  const unattested = required.filter((d) => capability[d] === "none")
  if (unattested.length > 0) {
    return Either.left(new SandboxUnenforceable({
      tier,
      dimensions: unattested,
      reason: `the ${tier} tier can neither enforce nor attest ${unattested.join(", ")}, which this run requires`
    }))
  }
  const unenforced = enforce.filter((d) => capability[d] !== "enforced")
  if (unenforced.length > 0) {
    return Either.left(new SandboxUnenforceable({
      tier,
      dimensions: unenforced,
      reason: `the run demands ${unenforced.join(", ")} enforced, but the ${tier} tier ${
        unenforced.map((d) => `${capability[d] === "attested" ? "only attests" : "does not cover"} ${d}`).join(" and ")
      }`
    }))
  }
  return Either.right({ tier, matrix: capability, required, enforce })
}
