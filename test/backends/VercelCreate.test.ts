import { describe, expect, it } from "@effect/vitest"
import { Either, Redacted } from "effect"
import { createInput, DEFAULT_TIMEOUT_MARGIN_MS, vercelNetworkPolicy } from "../../src/backends/VercelCreate.js"
import type { NetworkPolicy } from "../../src/protocol/Network.js"
import { execution, sh } from "./support/Sessions.js"

const withNetwork = (network: NetworkPolicy, egressProxy = true) => execution(sh("true"), { network, egressProxy, timeoutMs: 60_000 })

const timeout = 60_000 + DEFAULT_TIMEOUT_MARGIN_MS

describe("the Vercel sandbox's create input", () => {
  it("deny-all for a contract that denies by default and allows no host", () => {
    expect(createInput(withNetwork({ defaultDeny: true, allowHosts: [] }), {})).toEqual(Either.right({
      timeout,
      networkPolicy: "deny-all",
      persistent: false,
      runtime: "node22"
    }))
  })

  it("a domain allowlist: canonical, deduplicated, wildcards kept", () => {
    const network = { defaultDeny: true, allowHosts: ["API.Example.com.", "*.npmjs.org", "api.example.com", "bücher.example"] }
    expect(createInput(withNetwork(network), {})).toEqual(Either.right({
      timeout,
      networkPolicy: { allow: ["api.example.com", "*.npmjs.org", "xn--bcher-kva.example"] },
      persistent: false,
      runtime: "node22"
    }))
  })

  it("allow-all only when the contract allows all, with or without the proxy", () => {
    expect(vercelNetworkPolicy({ defaultDeny: false, allowHosts: [] })).toEqual(Either.right("allow-all"))
    expect(vercelNetworkPolicy({ defaultDeny: false, allowHosts: ["a.example:8443"] })).toEqual(Either.right("allow-all"))
    // Turning the proxy off never opens the network: the VM's firewall applies regardless.
    expect(createInput(withNetwork({ defaultDeny: true, allowHosts: [] }, false), {})).toEqual(
      Either.right(expect.objectContaining({ networkPolicy: "deny-all" }))
    )
  })

  it("refuses, rather than widens, what the VM's policy cannot express", () => {
    expect(vercelNetworkPolicy({ defaultDeny: true, allowHosts: ["api.example.com:8443"] })).toEqual(Either.left(
      "the allowed host \"api.example.com:8443\" names a port, and the sandbox's network policy allows a domain on every port"
    ))
    expect(vercelNetworkPolicy({ defaultDeny: true, allowHosts: ["10.0.0.7"] })).toEqual(Either.left(
      "the allowed host \"10.0.0.7\" is an IP address, which the sandbox's domain allowlist cannot name"
    ))
    expect(vercelNetworkPolicy({ defaultDeny: true, allowHosts: ["[::1]"] })).toEqual(Either.left(
      "the allowed host \"[::1]\" is an IP address, which the sandbox's domain allowlist cannot name"
    ))
    expect(vercelNetworkPolicy({ defaultDeny: true, allowHosts: ["a.example"], allowAddresses: ["10.0.0.0/8"] })).toEqual(Either.left(
      "allowAddresses (10.0.0.0/8) cannot be expressed by the sandbox's network policy: a subnet rule there would admit every port and bypass the host allowlist"
    ))
    expect(Either.getLeft(vercelNetworkPolicy({ defaultDeny: true, allowHosts: ["*.com"] }))).toEqual(
      expect.objectContaining({ value: expect.stringContaining("the network policy is invalid") })
    )
  })

  it("a snapshot source brings its own image: no runtime", () => {
    const input = createInput(withNetwork({ defaultDeny: true, allowHosts: [] }), { source: { type: "snapshot", snapshotId: "snap_123" } })
    expect(input).toEqual(Either.right({
      timeout,
      networkPolicy: "deny-all",
      persistent: false,
      source: { type: "snapshot", snapshotId: "snap_123" }
    }))
    expect(Either.getOrThrow(input)).not.toHaveProperty("runtime")
    expect(createInput(withNetwork({ defaultDeny: true, allowHosts: [] }), { runtime: "node24", source: { type: "snapshot", snapshotId: "s" } }))
      .toEqual(Either.left("a snapshot source brings its own image; runtime and image cannot be set with it"))
  })

  it("a git source with the chosen runtime, resources, tags and persistence", () => {
    const password = Redacted.make("hunter2-password")
    const input = createInput(withNetwork({ defaultDeny: true, allowHosts: ["github.com"] }), {
      runtime: "node24",
      source: { type: "git", url: "https://github.com/acme/app.git", username: "x-access-token", password, depth: 1, revision: "main" },
      resources: { vcpus: 4 },
      tags: { run: "r1", pool: "default" },
      persistent: true,
      timeoutMarginMs: 1_000
    })
    expect(input).toEqual(Either.right({
      timeout: 61_000,
      networkPolicy: { allow: ["github.com"] },
      persistent: true,
      resources: { vcpus: 4 },
      tags: { run: "r1", pool: "default" },
      runtime: "node24",
      source: { type: "git", url: "https://github.com/acme/app.git", username: "x-access-token", password, depth: 1, revision: "main" }
    }))
  })

  it("an image instead of a runtime; never both; at most five tags", () => {
    expect(createInput(withNetwork({ defaultDeny: true, allowHosts: [] }), { image: "vercel/sandbox/node:24", source: { type: "tarball", url: "https://x.example/a.tgz" } }))
      .toEqual(Either.right({
        timeout,
        networkPolicy: "deny-all",
        persistent: false,
        image: "vercel/sandbox/node:24",
        source: { type: "tarball", url: "https://x.example/a.tgz" }
      }))
    expect(createInput(withNetwork({ defaultDeny: true, allowHosts: [] }), { image: "i", runtime: "node22" }))
      .toEqual(Either.left("set either runtime or image for the sandbox, not both"))
    const tags = Object.fromEntries(["a", "b", "c", "d", "e", "f"].map((k) => [k, k]))
    expect(createInput(withNetwork({ defaultDeny: true, allowHosts: [] }), { tags }))
      .toEqual(Either.left("a sandbox takes at most 5 tags; 6 were given"))
  })
})
