/**
 * Composing a runner's isolation tiers in code and running one governed session on the
 * strongest one this host offers: `npx tsx examples/strong-tiers.ts [DIR]`.
 *
 * The namespace tier (bubblewrap) is preferred; if its probe says it is not ready here the
 * example falls back to the hermetic tier — a choice the example makes explicitly. A contract
 * that demands network enforced would be refused on the process tier, never run weaker.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Redacted } from "effect"
import type { PreparedExecution } from "../src/backends/Execution.js"
import * as Hermetic from "../src/backends/Hermetic.js"
import * as Namespace from "../src/backends/Namespace.js"
import * as Select from "../src/backends/Select.js"
import { runSession } from "../src/backends/Session.js"
import { SessionBackends } from "../src/backends/SessionBackend.js"
import * as EgressProxy from "../src/egress/EgressProxy.js"
import { SecretName } from "../src/protocol/Ids.js"

const given = process.argv[2]
const workspace = given ?? mkdtempSync(join(tmpdir(), "warrant-example-"))
writeFileSync(join(workspace, "README.txt"), "hello from the workspace\n")

const token = SecretName.make("API_TOKEN")
const execution: PreparedExecution = {
  agent: "command",
  command: { kind: "shell", shell: "sh", script: "cat README.txt; echo \"token: $API_TOKEN\"; ls / | tr '\\n' ' '; echo" },
  cwd: ".",
  timeoutMs: 30_000,
  logMaxBytes: 65_536,
  env: { API_TOKEN: { _tag: "Secret", secret: token } },
  egressProxy: true,
  network: { defaultDeny: true, allowHosts: [] }
}

const program = Effect.gen(function*() {
  const { all } = yield* SessionBackends
  const namespace = all.find((b) => b.tier === "namespace")!
  const readiness = yield* namespace.probe
  const tier = readiness.ready ? "namespace" : "hermetic"
  if (!readiness.ready) console.error(`namespace tier not ready (${readiness.reasons.join("; ")}); using hermetic`)
  const { attestation, result } = yield* runSession({
    tier,
    execution,
    workspace,
    secrets: [{ name: token, value: Redacted.make("tok-example-123456") }],
    required: ["read", "write", "network", "env"],
    enforce: ["network", "env"]
  })
  console.log(`tier ${attestation.tier}:`, attestation.matrix)
  console.log(result.log)
  console.log(`exit ${result.exitCode}, redactions`, result.redactions)
})

Effect.runPromise(program.pipe(
  Effect.provide(Select.layer([Namespace.make(), Hermetic.make])),
  Effect.provide(EgressProxy.layerSystem)
)).catch((error) => {
  console.error(String(error))
  process.exitCode = 1
}).finally(() => {
  if (given === undefined) rmSync(workspace, { recursive: true, force: true })
})
