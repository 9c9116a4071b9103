/**
 * Session start-to-exit latency for `true` and `echo hi` on the process and hermetic tiers
 * (median and p95 of sequential sessions, the egress proxy included), and resident memory
 * while 100 hermetic sessions run at once.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import type { PreparedExecution } from "../../src/backends/Execution.js"
import { make as hermeticBackend } from "../../src/backends/Hermetic.js"
import { make as processBackend } from "../../src/backends/Process.js"
import type { SessionBackend } from "../../src/backends/SessionBackend.js"
import { layerSystem } from "../../src/egress/EgressProxy.js"
import { type Bench, type Figure, quantile, round } from "./Figure.js"

const execution = (script: string): PreparedExecution => ({
  agent: "command",
  command: { kind: "shell", shell: "sh", script },
  cwd: ".",
  timeoutMs: 30_000,
  logMaxBytes: 65_536,
  env: {},
  egressProxy: true,
  network: { defaultDeny: true, allowHosts: [] }
})

const timeSessions = async (backend: SessionBackend, workspace: string, script: string, n: number) => {
  const once = Effect.scoped(backend.run({ execution: execution(script), workspace, secrets: [] }))
  for (let i = 0; i < 5; i++) await Effect.runPromise(once)
  const times: Array<number> = []
  for (let i = 0; i < n; i++) {
    const start = performance.now()
    const result = await Effect.runPromise(once)
    times.push(performance.now() - start)
    if (result.exitCode !== 0) throw new Error(`${backend.tier} ${script} exited ${result.exitCode}: ${result.log}`)
  }
  return times.sort((a, b) => a - b)
}

export const bench: Bench = {
  name: "session",
  description: "session start-to-exit latency per tier; memory with 100 concurrent hermetic sessions",
  run: async () => {
    const workspace = mkdtempSync(join(tmpdir(), "warrant-bench-session-"))
    try {
      const processTier = await Effect.runPromise(processBackend.pipe(Effect.provide(layerSystem)))
      const hermetic = await Effect.runPromise(hermeticBackend)
      const figures: Array<Figure> = []
      console.log("session: sequential sessions after 5 warm-ups (process: 50 each, hermetic: 200 each)")
      for (const [backend, n] of [[processTier, 50], [hermetic, 200]] as const) {
        for (const script of ["true", "echo hi"]) {
          const times = await timeSessions(backend, workspace, script, n)
          const p50 = quantile(times, 0.5)
          const p95 = quantile(times, 0.95)
          console.log(`  ${backend.tier.padEnd(9)} ${script.padEnd(8)} p50 ${p50.toFixed(2)} ms  p95 ${p95.toFixed(2)} ms`)
          const metric = `${backend.tier}_${script.replace(" ", "_")}`
          figures.push({ bench: "session", metric: `${metric}_p50`, value: round(p50), unit: "ms" })
          figures.push({ bench: "session", metric: `${metric}_p95`, value: round(p95), unit: "ms" })
        }
      }
      global.gc?.()
      const before = process.memoryUsage().rss
      let peak = before
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss)
      }, 5)
      const start = performance.now()
      const results = await Effect.runPromise(Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        (i) => Effect.scoped(hermetic.run({ execution: execution(`for i in 1 2 3 4 5 6 7 8 9 10; do echo "session ${i} line $i"; done`), workspace, secrets: [] })),
        { concurrency: "unbounded" }
      )).finally(() => clearInterval(sampler))
      const elapsed = performance.now() - start
      peak = Math.max(peak, process.memoryUsage().rss)
      if (results.some((r) => r.exitCode !== 0)) throw new Error("a concurrent hermetic session failed")
      const mib = (bytes: number) => bytes / 2 ** 20
      console.log(`  100 concurrent hermetic sessions: ${elapsed.toFixed(0)} ms, RSS ${mib(before).toFixed(0)} → peak ${mib(peak).toFixed(0)} MiB (+${mib(peak - before).toFixed(0)} MiB)`)
      figures.push({ bench: "session", metric: "hermetic_100_concurrent_ms", value: round(elapsed), unit: "ms" })
      figures.push({ bench: "session", metric: "hermetic_100_concurrent_peak_rss", value: round(mib(peak), 1), unit: "MiB" })
      figures.push({ bench: "session", metric: "hermetic_100_concurrent_rss_added", value: round(mib(peak - before), 1), unit: "MiB" })
      return figures
    } finally {
      rmSync(workspace, { recursive: true, force: true })
    }
  }
}
