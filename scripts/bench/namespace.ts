/**
 * Namespace session start-to-exit latency for `true` (median, p95) and its overhead over the
 * process tier as a ratio, measured interleaved so machine noise hits both alike; plus the
 * same with an allowed host, where the egress bridge (a Node process) starts in the sandbox.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import type { PreparedExecution } from "../../src/backends/Execution.js"
import { make as namespaceBackend } from "../../src/backends/Namespace.js"
import { make as processBackend } from "../../src/backends/Process.js"
import type { SessionBackend } from "../../src/backends/SessionBackend.js"
import { layerSystem } from "../../src/egress/EgressProxy.js"
import { type Bench, type Figure, quantile, round } from "./Figure.js"

const execution = (allowHosts: ReadonlyArray<string>): PreparedExecution => ({
  agent: "command",
  command: { kind: "argv", argv: ["true"] },
  cwd: ".",
  timeoutMs: 30_000,
  logMaxBytes: 65_536,
  env: {},
  egressProxy: true,
  network: { defaultDeny: true, allowHosts }
})

const once = async (backend: SessionBackend, workspace: string, allowHosts: ReadonlyArray<string>) => {
  const start = performance.now()
  const result = await Effect.runPromise(Effect.scoped(backend.run({ execution: execution(allowHosts), workspace, secrets: [] })))
  if (result.exitCode !== 0) throw new Error(`${backend.tier} true exited ${result.exitCode}: ${result.log}`)
  return performance.now() - start
}

const RUNS = 60

export const bench: Bench = {
  name: "namespace",
  description: "namespace (bubblewrap) session latency for `true` and its ratio over the process tier",
  run: async () => {
    const workspace = mkdtempSync(join(tmpdir(), "warrant-bench-ns-"))
    try {
      const processTier = await Effect.runPromise(processBackend.pipe(Effect.provide(layerSystem)))
      const namespace = await Effect.runPromise(namespaceBackend().pipe(Effect.provide(layerSystem)))
      const readiness = await Effect.runPromise(namespace.probe)
      if (!readiness.ready) throw new Error(`the namespace tier is not ready: ${readiness.reasons.join("; ")}`)
      const times = { process: [] as Array<number>, namespace: [] as Array<number>, bridged: [] as Array<number> }
      for (let i = 0; i < 5; i++) {
        await once(processTier, workspace, [])
        await once(namespace, workspace, [])
        await once(namespace, workspace, ["example.com"])
      }
      for (let i = 0; i < RUNS; i++) {
        times.process.push(await once(processTier, workspace, []))
        times.namespace.push(await once(namespace, workspace, []))
        times.bridged.push(await once(namespace, workspace, ["example.com"]))
      }
      const figures: Array<Figure> = []
      console.log(`namespace: ${RUNS} interleaved sessions of \`true\` per variant after 5 warm-ups`)
      const p50s: Record<string, number> = {}
      for (const [name, list] of Object.entries(times)) {
        list.sort((a, b) => a - b)
        const p50 = quantile(list, 0.5)
        const p95 = quantile(list, 0.95)
        p50s[name] = p50
        console.log(`  ${name.padEnd(9)} p50 ${p50.toFixed(2)} ms  p95 ${p95.toFixed(2)} ms`)
        figures.push({ bench: "namespace", metric: `${name}_true_p50`, value: round(p50), unit: "ms" })
        figures.push({ bench: "namespace", metric: `${name}_true_p95`, value: round(p95), unit: "ms" })
      }
      const ratio = p50s.namespace! / p50s.process!
      const bridgedRatio = p50s.bridged! / p50s.process!
      console.log(`  overhead over the process tier (p50 ratio): ${ratio.toFixed(2)}× without a bridge, ${bridgedRatio.toFixed(2)}× with one`)
      figures.push({ bench: "namespace", metric: "namespace_over_process_p50_ratio", value: round(ratio), unit: "x" })
      figures.push({ bench: "namespace", metric: "bridged_over_process_p50_ratio", value: round(bridgedRatio), unit: "x" })
      return figures
    } finally {
      rmSync(workspace, { recursive: true, force: true })
    }
  }
}
