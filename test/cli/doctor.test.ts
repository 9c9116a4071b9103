import { NodeContext } from "@effect/platform-node"
import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { run } from "../../src/cli/Cli.js"
import { describeCapability } from "../../src/cli/commands/doctor.js"
import * as Namespace from "../../src/backends/Namespace.js"
import * as Process from "../../src/backends/Process.js"

describe("warrant doctor", () => {
  const out: Array<string> = []
  afterEach(() => {
    vi.restoreAllMocks()
    vi.unstubAllEnvs()
    out.length = 0
  })
  const doctor = (...args: Array<string>) =>
    Effect.suspend(() => {
      vi.spyOn(console, "log").mockImplementation((...m: Array<unknown>) => void out.push(m.join(" ")))
      for (const name of ["VERCEL_TOKEN", "VERCEL_TEAM_ID", "VERCEL_PROJECT_ID", "VERCEL_OIDC_TOKEN", "WARRANT_CONTAINER_IMAGE"]) {
        vi.stubEnv(name, undefined)
      }
      return run(["node", "warrant", "doctor", ...args]).pipe(Effect.provide(NodeContext.layer), Effect.exit)
    })

  it("describes a matrix as what it enforces and what it only attests", () => {
    expect(describeCapability(Process.capability)).toBe("enforces command; attests read, write, network, env")
    expect(describeCapability(Namespace.capability)).toBe("enforces read, write, network, env; attests command")
    expect(describeCapability({ read: "none", write: "enforced", command: "none", network: "attested", env: "enforced" }))
      .toBe("enforces write, env; attests network; covers nothing of read, command")
  })

  it.live("--json: one record per tier, with readiness, reasons and matrix; exits 0 whatever it finds", () =>
    Effect.gen(function*() {
      const exit = yield* doctor("--json")
      expect(exit).toEqual(Exit.void)
      const records = out.map((line) => JSON.parse(line) as { tier: string; ready: boolean; reasons: Array<string>; matrix: Record<string, string> })
      expect(records.map((r) => r.tier)).toEqual(["process", "hermetic", "namespace", "container", "vercel-sandbox"])
      const byTier = Object.fromEntries(records.map((r) => [r.tier, r]))
      expect(byTier.process).toMatchObject({ ready: true, reasons: [], matrix: Process.capability })
      expect(byTier.hermetic?.ready).toBe(true)
      // CI installs bubblewrap; the namespace tier is really tried here.
      expect(byTier.namespace).toMatchObject({ ready: true, matrix: Namespace.capability })
      // No engine runs on these machines, and no image is configured.
      expect(byTier.container?.ready).toBe(false)
      expect(byTier.container?.reasons).toContain("no container image is configured; set the container tier's image option or WARRANT_CONTAINER_IMAGE")
      expect(byTier["vercel-sandbox"]?.ready).toBe(false)
      expect(byTier["vercel-sandbox"]?.reasons.join(" ")).toContain("no Vercel credentials")
    }))

  it.live("text: a line per tier, reasons under the ones that are not ready", () =>
    Effect.gen(function*() {
      const exit = yield* doctor()
      expect(exit).toEqual(Exit.void)
      const text = out.join("\n")
      expect(text).toContain("warrant doctor: isolation tiers on this host")
      expect(text).toMatch(/^namespace\s+ready\s+enforces read, write, network, env; attests command$/m)
      expect(text).toMatch(/^container\s+not ready\s+enforces read, write, network, env; attests command$/m)
      expect(text).toMatch(/^\s+- no container image is configured/m)
    }))
})
