import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { attest, demandedDimensions, requiredDimensions } from "../../src/backends/Matrix.js"
import type { Capability } from "../../src/backends/SessionBackend.js"
import type { Contract } from "../../src/protocol/Contract.js"
import type { RunId } from "../../src/protocol/Ids.js"
import { sampleContract } from "../../src/testkit/SampleRun.js"

const contract = (network: Contract["network"], enforce: Contract["isolation"]["enforce"] = []): Contract =>
  ({ ...sampleContract({ runId: "run_matrix" as RunId, now: 0 }), network, isolation: { tier: "process", enforce } }) as unknown as Contract

const processTier: Capability = { read: "attested", write: "attested", command: "enforced", network: "attested", env: "enforced" }
const hermetic: Capability = { read: "enforced", write: "enforced", command: "enforced", network: "enforced", env: "enforced" }
const blind: Capability = { read: "attested", write: "attested", command: "none", network: "none", env: "enforced" }

describe("requiredDimensions", () => {
  it("read, write and env always; network when deny-by-default; command with a command allowlist", () => {
    expect(requiredDimensions(contract({ defaultDeny: true, allowHosts: [] }), {})).toEqual(["read", "write", "network", "env"])
    expect(requiredDimensions(contract({ defaultDeny: false, allowHosts: [] }), {})).toEqual(["read", "write", "env"])
    expect(requiredDimensions(contract({ defaultDeny: true, allowHosts: [] }), { commands: ["npm"] })).toEqual(["read", "write", "command", "network", "env"])
  })
})

describe("demandedDimensions", () => {
  it("is the union of the contract's and the policy's demands, in dimension order", () => {
    expect(demandedDimensions(contract({ defaultDeny: true, allowHosts: [] }, ["network"]), { enforce: ["env", "read"] })).toEqual(["read", "network", "env"])
  })
})

describe("attest", () => {
  it("records the tier's capability with what was required and demanded", () => {
    expect(attest("hermetic", hermetic, ["read", "write", "network", "env"], ["network"])).toEqual(Either.right({
      tier: "hermetic",
      matrix: hermetic,
      required: ["read", "write", "network", "env"],
      enforce: ["network"]
    }))
  })

  it("the process tier cannot enforce network: SandboxUnenforceable names it", () => {
    const result = attest("process", processTier, ["read", "write", "network", "env"], ["network"])
    expect(Either.isLeft(result) && [result.left._tag, result.left.tier, result.left.dimensions, result.left.reason]).toEqual([
      "SandboxUnenforceable",
      "process",
      ["network"],
      "the run demands network enforced, but the process tier only attests network"
    ])
  })

  it("a required dimension the tier cannot even attest fails, listing every such dimension", () => {
    const result = attest("process", blind, ["read", "write", "command", "network", "env"], [])
    expect(Either.isLeft(result) && result.left.dimensions).toEqual(["command", "network"])
  })

  it("a demanded dimension the tier does not cover at all is named as not covered", () => {
    const result = attest("process", blind, [], ["command"])
    expect(Either.isLeft(result) && result.left.reason).toBe("the run demands command enforced, but the process tier does not cover command")
  })
})
