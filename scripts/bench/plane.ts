/**
 * Plane-only cycles per second — create → claim → post 10 events → complete with a signed
 * receipt — with 1 and 8 concurrent clients, and each endpoint's p50/p95 as the client sees it.
 * The plane runs in its own process (scripts/bench/planeServer.ts) on a SQLite file (WAL) in a temp
 * directory, behind real loopback HTTP; the clients run here, each a requester plus a runner
 * enrolled in its own pool, so clients never steal each other's runs. The runner's own work
 * (contract check, chain linking, receipt signing) runs here too and is counted in the cycle.
 */
import { FetchHttpClient } from "@effect/platform"
import { Effect, Option, Redacted, Schema } from "effect"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { makeClient } from "../../src/plane/Client.js"
import { PlaneInfo } from "../../src/plane/PlaneInfo.js"
import type { ChainEntry, RunEvent } from "../../src/protocol/Event.js"
import { sha256 } from "../../src/protocol/Hash.js"
import { RunnerId } from "../../src/protocol/Ids.js"
import { freshSigner, request, runnerSide } from "../../src/testkit/PlaneRun.js"
import { processAttested } from "../../src/testkit/SampleRun.js"
import { type Bench, type Figure, quantile, round } from "./Figure.js"
import { benchPools } from "./planePools.js"

const CLIENTS = [1, 8] as const
const CYCLES_PER_CLIENT = { 1: 300, 8: 100 } as const
const pools = benchPools
const endpoints = ["create", "claim", "events", "complete"] as const
type Endpoint = typeof endpoints[number]

/** Ten runner events: materialised, attested, eight commands, completed. */
const tenEvents = (manifestHash: ChainEntry["hash"]): ReadonlyArray<RunEvent> => [
  { type: "workspace.materialized", manifestHash },
  processAttested,
  ...Array.from({ length: 7 }, (_, i): RunEvent => ({ type: "command.executed", argvHash: sha256(`step ${i}`), exitCode: 0, durationMs: i })),
  { type: "run.completed", exitCode: 0 }
]

const timed = <A, E, R>(times: Array<number>, effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const start = performance.now()
    return Effect.tap(effect, () => Effect.sync(() => void times.push(performance.now() - start)))
  })

const scenario = (clients: number) =>
  Effect.gen(function*() {
    const info = yield* PlaneInfo
    const admin = yield* makeClient(info.url, Option.getOrThrow(info.adminToken))
    const workers = yield* Effect.forEach(Array.from({ length: clients }, (_, i) => i), (i) =>
      Effect.gen(function*() {
        const created = yield* admin.admin.createPrincipal({ payload: { id: `bench-${clients}-${i}`, kind: "service", role: "requester" } })
        const signer = freshSigner()
        const minted = yield* admin.admin.createEnrollToken({ payload: { pool: pools[i]! } })
        const anonymous = yield* makeClient(info.url)
        const enrolled = yield* anonymous.enroll.enroll({ payload: { enrollToken: minted.token, publicKey: signer.publicKey, name: Schema.decodeSync(RunnerId)(`bench-${clients}-${i}`) } })
        return {
          pool: pools[i]!,
          requester: yield* makeClient(info.url, created.token),
          runner: yield* makeClient(info.url, enrolled.runnerToken),
          identity: { runnerId: enrolled.runnerId, signer }
        }
      }))
    const times: Record<Endpoint, Array<number>> = { create: [], claim: [], events: [], complete: [] }
    const cycles = CYCLES_PER_CLIENT[clients as 1 | 8]
    const start = performance.now()
    yield* Effect.forEach(workers, (w) =>
      Effect.repeatN(
        Effect.gen(function*() {
          yield* timed(times.create, w.requester.runs.create({ payload: request({ pool: w.pool }) }))
          const claimed = yield* timed(times.claim, w.runner.runner.claim())
          if (claimed._tag !== "claimed") return yield* Effect.dieMessage("a queued run was not claimable")
          const side = yield* runnerSide({ planeKey: info.planeKey }, w.identity, claimed, tenEvents)
          const claim = yield* makeClient(info.url, claimed.claimToken)
          const runId = claimed.contract.runId
          yield* timed(times.events, claim.runner.postEvents({ path: { runId }, payload: { entries: side.fresh } }))
          yield* timed(times.complete, claim.runner.complete({ path: { runId }, payload: { receipt: side.receipt } }))
        }),
        cycles - 1
      ), { concurrency: "unbounded", discard: true })
    const seconds = (performance.now() - start) / 1000
    const total = clients * cycles
    return { clients, total, perSecond: total / seconds, times }
  })

interface Started {
  readonly url: string
  readonly adminToken: string
  readonly planeKey: PlaneInfo["Type"]["planeKey"]
}

/** The plane in a child process, killed (and its directory removed) with the scope. */
const planeProcess = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await mkdtemp(join(tmpdir(), "warrant-bench-plane-"))
    const child = spawn(process.execPath, [...(process.env.WARRANT_BENCH_PROFILE === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${process.env.WARRANT_BENCH_PROFILE}`]), "--import", "tsx", "scripts/bench/planeServer.ts", dir], { stdio: ["ignore", "pipe", "inherit"] })
    const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string]
    return { dir, child, started: JSON.parse(line) as Started }
  }),
  ({ child, dir }) =>
    Effect.promise(async () => {
      child.kill("SIGTERM")
      if (child.exitCode === null) await once(child, "exit")
      await rm(dir, { recursive: true, force: true })
    })
)

const runScenario = (clients: number) =>
  Effect.flatMap(planeProcess, ({ started }) =>
    scenario(clients).pipe(Effect.provideService(PlaneInfo, { url: started.url, planeKey: started.planeKey, adminToken: Option.some(Redacted.make(started.adminToken)) })))

export const bench: Bench = {
  name: "plane",
  description: "plane-only cycles/s (create, claim, 10 events, complete) with 1 and 8 clients, per-endpoint p50/p95",
  run: async () => {
    const figures: Array<Figure> = []
    for (const clients of CLIENTS) {
      const result = await Effect.runPromise(runScenario(clients).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
      console.log(`plane: ${result.clients} client(s), ${result.total} cycles, ${result.perSecond.toFixed(1)} cycles/s`)
      figures.push({ bench: "plane", metric: `cycles_per_second_${clients}c`, value: round(result.perSecond, 1), unit: "1/s" })
      for (const endpoint of endpoints) {
        const sorted = [...result.times[endpoint]].sort((a, b) => a - b)
        const [p50, p95] = [quantile(sorted, 0.5), quantile(sorted, 0.95)]
        console.log(`  ${endpoint.padEnd(9)} p50 ${p50.toFixed(2)} ms  p95 ${p95.toFixed(2)} ms`)
        figures.push({ bench: "plane", metric: `${endpoint}_p50_${clients}c`, value: round(p50), unit: "ms" })
        figures.push({ bench: "plane", metric: `${endpoint}_p95_${clients}c`, value: round(p95), unit: "ms" })
      }
    }
    return figures
  }
}
