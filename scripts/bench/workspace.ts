/**
 * Workspace capture and materialise on generated git repositories (issue 6): 10k and 100k small
 * files, and 100k plus a 200 MB binary, each with a small dirty state and allowlisted untracked
 * files. Per phase: the median and max of several timed runs in this process (after one traced
 * warm-up that shows where the time goes), then one memory probe in a fresh Node process. The
 * probe's own peak comes from the kernel's high-water mark (exact), git's from /proc sampled
 * every 10 ms. The 10k/100k pair shows whether the runner's memory grows with the file count.
 */
import { spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { Worker } from "node:worker_threads"
import { Effect, Layer } from "effect"
import type { Manifest } from "../../src/protocol/Manifest.js"
import { directoryStore, type DirectoryStore } from "../../src/workspace/Blobs.js"
import { capture } from "../../src/workspace/Capture.js"
import { Git, layer as gitLayer, type RunOptions } from "../../src/workspace/Git.js"
import { materialize } from "../../src/workspace/Materialize.js"
import { type Bench, type Figure, quantile, round } from "./Figure.js"
import { BIG_FILE_PATH, ensureRepo, fileContent, type GeneratedRepo, type RepoSpec, UNTRACKED_GLOB } from "./workspaceRepo.js"

const RUNS = 5
const CAPTURE_TARGET_MS = 2500
const MATERIALISE_TARGET_MS = 3000
const MiB = 1024 * 1024

interface Variant {
  /** The metric infix: capture_<key>_p50. */
  readonly key: string
  readonly spec: RepoSpec
}

const VARIANTS: ReadonlyArray<Variant> = [
  { key: "10k", spec: { files: 10_000, bigFileBytes: 0 } },
  { key: "100k", spec: { files: 100_000, bigFileBytes: 0 } },
  { key: "200mb", spec: { files: 100_000, bigFileBytes: 200 * MiB } }
]

type Phase = "capture" | "materialise"

// ---------------------------------------------------------------------------------------------
// The phases against the workspace API.

const captureOptions = { allowUntracked: [UNTRACKED_GLOB] }

type GitLayer = Layer.Layer<Git>

const runCapture = (repoDir: string, store: DirectoryStore, git: GitLayer = gitLayer): Promise<Manifest> =>
  Effect.runPromise(capture(repoDir, captureOptions, store.sink).pipe(Effect.provide(git)))

/** Materialises in its own scope; `onReady` runs on the directory before the scope removes it. */
const runMaterialise = (
  manifest: Manifest,
  store: DirectoryStore,
  onReady: (directory: string) => Promise<void>,
  git: GitLayer = gitLayer,
  parent?: string
): Promise<void> =>
  Effect.runPromise(
    Effect.scoped(
      materialize(manifest, store.fetch, parent === undefined ? {} : { parent }).pipe(
        Effect.flatMap(({ directory }) => Effect.promise(() => onReady(directory)))
      )
    ).pipe(Effect.provide(git))
  )

/** Wall time of one phase up to the moment its result is ready (a materialise's teardown excluded). */
const timePhase = async (phase: Phase, repoDir: string, store: DirectoryStore, manifest: Manifest): Promise<{ ms: number; manifest: Manifest }> => {
  const start = performance.now()
  if (phase === "capture") {
    const captured = await runCapture(repoDir, store)
    return { ms: performance.now() - start, manifest: captured }
  }
  let ms = 0
  await runMaterialise(manifest, store, async () => void (ms = performance.now() - start))
  return { ms, manifest }
}

// ---------------------------------------------------------------------------------------------
// Where the time goes: the warm-up runs with a git that records each command's wall time.

interface Step {
  readonly command: string
  readonly ms: number
}

const tracedGit = (steps: Array<Step>): GitLayer =>
  Layer.effect(Git, Effect.map(Git, (git) => ({
    run: (cwd: string, args: ReadonlyArray<string>, options?: RunOptions) => {
      const start = performance.now()
      return git.run(cwd, args, options).pipe(Effect.ensuring(Effect.sync(() => steps.push({ command: label(args), ms: performance.now() - start }))))
    }
  }))).pipe(Layer.provide(gitLayer))

/** A command without its `-c` options, paths and object ids: `reset -q --hard`, `cat-file --batch --buffer`. */
const label = (args: ReadonlyArray<string>) =>
  args.filter((a, i) => a !== "-c" && args[i - 1] !== "-c" && !a.includes("/") && !/^[0-9a-f]{40}/.test(a)).slice(0, 3).join(" ")

/** Runs `f` with a traced git and prints its time and its slowest git commands (some run concurrently). */
const traced = async <A>(what: string, f: (git: GitLayer) => Promise<A>): Promise<A> => {
  const steps: Array<Step> = []
  const start = performance.now()
  const result = await f(tracedGit(steps))
  const total = performance.now() - start
  const slowest = [...steps].sort((a, b) => b.ms - a.ms).slice(0, 4).map((s) => `${s.command} ${s.ms.toFixed(0)}`)
  const gitMs = steps.reduce((sum, s) => sum + s.ms, 0)
  console.log(`    warm-up ${what} ${total.toFixed(0)} ms (${steps.length} git commands, ${gitMs.toFixed(0)} ms in git); slowest: ${slowest.join(", ")} ms`)
  return result
}

/**
 * Outside the timing: the materialised tree carries the dirty state (edited files, a deleted
 * one, the untracked notes) and the big file, so the bench is known to measure real work.
 */
const checkMaterialised = async (repo: GeneratedRepo, directory: string): Promise<void> => {
  const problems: Array<string> = []
  for (const path of [...repo.modified, ...repo.untracked]) {
    const want = readFileSync(join(repo.dir, path))
    const got = await readFile(join(directory, path)).catch(() => undefined)
    if (got === undefined || !got.equals(want)) problems.push(`${path} differs from the working tree`)
  }
  for (const path of repo.deleted) {
    if (await stat(join(directory, path)).then(() => true, () => false)) problems.push(`${path} should be deleted`)
  }
  const sample = "pkg-00/mod-000/file-007.ts"
  if ((await readFile(join(directory, sample), "utf8").catch(() => "")) !== fileContent(7)) problems.push(`${sample} differs from the commit`)
  if (repo.spec.bigFileBytes > 0) {
    const size = await stat(join(directory, BIG_FILE_PATH)).then((s) => s.size, () => -1)
    if (size !== repo.spec.bigFileBytes) problems.push(`${BIG_FILE_PATH} is ${size} bytes, not ${repo.spec.bigFileBytes}`)
  }
  if (problems.length > 0) throw new Error(`the materialised workspace is wrong: ${problems.join("; ")}`)
}

// ---------------------------------------------------------------------------------------------
// Git's memory. A worker thread reads /proc while the main thread waits; it finds descendants by
// scanning /proc/*/stat for parent ids (this kernel has no /proc/<pid>/task/<tid>/children) and
// counts only processes named git*: a child between fork and exec is still a copy of node, and
// tsx's esbuild service is a descendant too. Shared pages (mapped packs) count once per process;
// git processes shorter than 10 ms may be missed, the long ones (cat-file, checkout, bundle) not.

const SAMPLER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads")
const { readdirSync, readFileSync } = require("node:fs")
const root = workerData.pid
const PAGE_KIB = 4
let peak
const read = (path) => { try { return readFileSync(path, "latin1") } catch { return undefined } }
const sample = () => {
  const parent = new Map(), rss = new Map()
  for (const name of readdirSync("/proc")) {
    if (name < "0" || name > "9") continue
    const stat = read("/proc/" + name + "/stat")
    if (stat === undefined) continue
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    parent.set(Number(name), Number(fields[1]))
    if (stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).startsWith("git")) rss.set(Number(name), Number(fields[21]) * PAGE_KIB)
  }
  let total = 0
  for (const [pid, kib] of rss) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p !== root) continue
      total += kib
      if (kib > peak.largestKiB) {
        peak.largestKiB = kib
        peak.largest = (read("/proc/" + pid + "/cmdline") ?? "?").split("\\0").filter((a) => a !== "" && a !== "-c" && !a.includes("=")).slice(0, 4).join(" ")
      }
      break
    }
  }
  peak.totalKiB = Math.max(peak.totalKiB, total)
}
let timer
parentPort.on("message", (message) => {
  if (message === "begin") {
    peak = { totalKiB: 0, largestKiB: 0, largest: "" }
    timer = setInterval(sample, 10)
  } else {
    clearInterval(timer)
    parentPort.postMessage(peak)
  }
})
`

interface GitPeak {
  /** The peak of the summed RSS of git processes below this one, in KiB. */
  readonly totalKiB: number
  /** The largest single git process seen and its command. */
  readonly largestKiB: number
  readonly largest: string
}

const startSampler = () => {
  const worker = new Worker(SAMPLER_SOURCE, { eval: true, workerData: { pid: process.pid } })
  return {
    begin: () => worker.postMessage("begin"),
    end: (): Promise<GitPeak> =>
      new Promise((resolve) => {
        worker.once("message", resolve)
        worker.postMessage("end")
      }),
    close: () => worker.terminate()
  }
}
type Sampler = ReturnType<typeof startSampler>

// ---------------------------------------------------------------------------------------------
// The runner's memory: one phase in a fresh Node process, so no earlier phase's heap hides this
// one's. The probe resets its peak RSS (VmHWM) just before the phase and reports the rise.

const PROBE_FLAG = "--workspace-memory-probe"
const SELF = fileURLToPath(import.meta.url)
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url))

interface ProbeReport {
  readonly ms: number
  readonly baselineKiB: number
  readonly peakKiB: number
}

const statusKiB = (field: "VmRSS" | "VmHWM"): number => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"))
  if (match === null) throw new Error(`/proc/self/status has no ${field}`)
  return Number(match[1])
}

/** A full collection first, so the baseline is not inflated by module loading's garbage; --expose-gc is set at runtime. */
const collectGarbage = (): void => {
  setFlagsFromString("--expose-gc")
  ;(runInNewContext("gc") as () => void)()
}

/** The probe process's side: argv is [phase, repoDir, storeDir, manifestFile]. */
const probeMain = async ([phase, repoDir, storeDir, manifestFile]: ReadonlyArray<string>): Promise<void> => {
  const store = directoryStore(storeDir!)
  const manifest = JSON.parse(await readFile(manifestFile!, "utf8")) as Manifest
  collectGarbage()
  const baselineKiB = statusKiB("VmRSS")
  // "5" resets the high-water mark to the current RSS (Linux ≥ 4.0).
  writeFileSync("/proc/self/clear_refs", "5")
  const { ms } = await timePhase(phase as Phase, repoDir!, store, manifest)
  const report: ProbeReport = { ms, baselineKiB, peakKiB: statusKiB("VmHWM") }
  process.stdout.write(`${JSON.stringify(report)}\n`)
}

interface MemoryRun {
  /** The probe's wall time: a cold process, as a CLI invocation would be. */
  readonly coldMs: number
  readonly runnerDeltaMiB: number
  readonly gitPeakMiB: number
  readonly largestGitMiB: number
  readonly largestGit: string
}

const runProbe = async (sampler: Sampler, phase: Phase, repoDir: string, storeDir: string, manifestFile: string): Promise<MemoryRun> => {
  sampler.begin()
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", SELF, PROBE_FLAG, phase, repoDir, storeDir, manifestFile], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")))
    child.on("error", reject)
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`the ${phase} memory probe exited ${code}`))))
  })
  const git = await sampler.end()
  const report = JSON.parse(stdout.trim().split("\n").pop()!) as ProbeReport
  return {
    coldMs: report.ms,
    runnerDeltaMiB: Math.max(0, report.peakKiB - report.baselineKiB) / 1024,
    gitPeakMiB: git.totalKiB / 1024,
    largestGitMiB: git.largestKiB / 1024,
    largestGit: git.largest
  }
}

// ---------------------------------------------------------------------------------------------
// One variant: warm-up, timed runs, then a memory probe per phase, all against one blob store.

interface PhaseResult {
  /** Sorted wall times of the timed runs, in ms. */
  readonly times: ReadonlyArray<number>
  readonly memory: MemoryRun
}

interface VariantResult {
  readonly capture: PhaseResult
  readonly materialise: PhaseResult
}

/** Wall time of a bare `git checkout` of the repository's HEAD into a fresh repository under `parent`. */
const bareCheckout = async (repoDir: string, parent: string): Promise<number> => {
  const dir = await mkdtemp(join(parent, "warrant-bench-co-"))
  const git = (args: ReadonlyArray<string>) => Effect.runPromise(Effect.flatMap(Git, (g) => g.run(dir, args)).pipe(Effect.provide(gitLayer)))
  try {
    await git(["init", "-q"])
    await git(["fetch", "-q", "--no-tags", repoDir, "HEAD"])
    const start = performance.now()
    await git(["-c", "checkout.workers=8", "checkout", "-q", "FETCH_HEAD"])
    return performance.now() - start
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Where the machine's filesystem decides: materialise on tmpfs, and git's own checkout of the same
 * tree on disk and on tmpfs, as the floor no materialiser here can go below.
 */
const filesystemFigures = async (repo: GeneratedRepo): Promise<Array<Figure>> => {
  const storeDir = await mkdtemp(join(tmpdir(), "warrant-bench-ws-blobs-"))
  try {
    const store = directoryStore(storeDir)
    const manifest = await runCapture(repo.dir, store)
    const tmpfs: Array<number> = []
    for (let i = 0; i < 3; i++) {
      const start = performance.now()
      await runMaterialise(manifest, store, async () => void tmpfs.push(performance.now() - start), gitLayer, "/dev/shm")
    }
    const disk: Array<number> = []
    const shm: Array<number> = []
    for (let i = 0; i < 3; i++) {
      disk.push(await bareCheckout(repo.dir, tmpdir()))
      shm.push(await bareCheckout(repo.dir, "/dev/shm"))
    }
    const median = (xs: Array<number>) => quantile(xs.sort((a, b) => a - b), 0.5)
    console.log(
      `  100k on tmpfs: materialise p50 ${median(tmpfs).toFixed(0)} ms; git's bare checkout of the same tree: ` +
        `${median(disk).toFixed(0)} ms on ${tmpdir()} (disk), ${median(shm).toFixed(0)} ms on /dev/shm`
    )
    return [
      { bench: "workspace", metric: "materialise_100k_tmpfs_p50", value: round(median(tmpfs), 0), unit: "ms" },
      { bench: "workspace", metric: "git_checkout_100k_disk_p50", value: round(median(disk), 0), unit: "ms" },
      { bench: "workspace", metric: "git_checkout_100k_tmpfs_p50", value: round(median(shm), 0), unit: "ms" }
    ]
  } finally {
    await rm(storeDir, { recursive: true, force: true })
  }
}

const benchVariant = async (repo: GeneratedRepo, sampler: Sampler): Promise<VariantResult> => {
  const storeDir = await mkdtemp(join(tmpdir(), "warrant-bench-ws-blobs-"))
  try {
    const store = directoryStore(storeDir)
    // One untimed warm-up each: first-touch costs (module init, page cache) are not the product's.
    let manifest = await traced("capture", (git) => runCapture(repo.dir, store, git))
    describeManifest(manifest)
    await traced("materialise", (git) => runMaterialise(manifest, store, (directory) => checkMaterialised(repo, directory), git))
    const times: Record<Phase, Array<number>> = { capture: [], materialise: [] }
    for (const phase of ["capture", "materialise"] as const) {
      for (let i = 0; i < RUNS; i++) {
        const run = await timePhase(phase, repo.dir, store, manifest)
        times[phase].push(run.ms)
        manifest = run.manifest
      }
      times[phase].sort((a, b) => a - b)
    }
    const manifestFile = join(storeDir, "manifest.json")
    await writeFile(manifestFile, JSON.stringify(manifest))
    const memory = async (phase: Phase) => runProbe(sampler, phase, repo.dir, storeDir, manifestFile)
    return {
      capture: { times: times.capture, memory: await memory("capture") },
      materialise: { times: times.materialise, memory: await memory("materialise") }
    }
  } finally {
    await rm(storeDir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting.

const describeManifest = (manifest: Manifest) => {
  const size = (ref: { readonly size: number } | undefined) => (ref === undefined ? "none" : `${(ref.size / MiB).toFixed(2)} MiB`)
  const ownBlobs = manifest.files.filter((file) => file.untracked === true).length
  console.log(
    `    manifest: ${manifest.files.length} files (${ownBlobs} shipped as their own blobs), bundle ${size(manifest.bundle)}, ` +
      `dirty diff ${manifest.dirtyDiff === undefined ? "none" : `${manifest.dirtyDiff.size} B`}, ${manifest.denied.length} denied`
  )
}

const p50 = (result: PhaseResult) => quantile(result.times, 0.5)

const phaseFigures = (phase: Phase, key: string, result: PhaseResult): Array<Figure> => {
  const max = result.times[result.times.length - 1]!
  const m = result.memory
  console.log(
    `    ${phase.padEnd(11)} p50 ${p50(result).toFixed(0).padStart(6)} ms  max ${max.toFixed(0).padStart(6)} ms  ` +
      `(cold process ${m.coldMs.toFixed(0)} ms)  runner peak RSS +${m.runnerDeltaMiB.toFixed(1)} MiB  ` +
      `git peak RSS ${m.gitPeakMiB.toFixed(1)} MiB (largest: ${m.largestGit === "" ? "none seen" : m.largestGit} ${m.largestGitMiB.toFixed(1)} MiB)`
  )
  const figure = (metric: string, value: number, unit: string): Figure => ({ bench: "workspace", metric: `${phase}_${key}_${metric}`, value: round(value, 1), unit })
  return [
    figure("p50", p50(result), "ms"),
    figure("max", max, "ms"),
    figure("runner_peak_rss_delta", m.runnerDeltaMiB, "MiB"),
    figure("git_peak_rss", m.gitPeakMiB, "MiB")
  ]
}

/** The "memory does not grow with file count" check: 10k against 100k files, runner and git. */
const growthFigures = (results: ReadonlyMap<string, VariantResult>): Array<Figure> => {
  const small = results.get("10k")!
  const large = results.get("100k")!
  return (["capture", "materialise"] as const).map((phase): Figure => {
    const a = small[phase].memory
    const b = large[phase].memory
    console.log(
      `  ${phase} memory 10k → 100k files: runner +${a.runnerDeltaMiB.toFixed(1)} → +${b.runnerDeltaMiB.toFixed(1)} MiB, ` +
        `git ${a.gitPeakMiB.toFixed(1)} → ${b.gitPeakMiB.toFixed(1)} MiB`
    )
    return { bench: "workspace", metric: `${phase}_runner_rss_growth_10k_to_100k`, value: round(b.runnerDeltaMiB - a.runnerDeltaMiB, 1), unit: "MiB" }
  })
}

const verdict = (metric: string, value: number, target: number): Figure => {
  const met = value <= target
  console.log(`  target ${metric}_p50 ≤ ${target} ms: ${met ? "met" : "NOT met"} (${value.toFixed(0)} ms)`)
  return { bench: "workspace", metric: `${metric}_target_met`, value: met ? 1 : 0, unit: "bool" }
}

export const bench: Bench = {
  name: "workspace",
  description: "workspace capture and materialise on generated 10k/100k-file repositories and a 200 MB binary (median, max, peak RSS)",
  run: async () => {
    const sampler = startSampler()
    // The machine may be shared: the load around the run says how far to trust its times.
    const loadAtStart = loadavg()[0]!
    const figures: Array<Figure> = []
    const results = new Map<string, VariantResult>()
    try {
      console.log(`workspace: ${RUNS} timed runs per phase after one warm-up, each materialise in its own scope; then one memory probe per phase in a fresh process`)
      for (const variant of VARIANTS) {
        const repo = await ensureRepo(variant.spec)
        const how = repo.reused ? "reused" : `generated in ${(repo.generationMs / 1000).toFixed(1)} s`
        console.log(`  ${variant.key}: ${repo.dir} (${how}; ${repo.modified.length} modified, ${repo.deleted.length} deleted, ${repo.untracked.length} untracked under ${UNTRACKED_GLOB})`)
        if (!repo.reused) figures.push({ bench: "workspace", metric: `generate_${variant.key}`, value: round(repo.generationMs, 0), unit: "ms" })
        const result = await benchVariant(repo, sampler)
        results.set(variant.key, result)
        figures.push(...phaseFigures("capture", variant.key, result.capture), ...phaseFigures("materialise", variant.key, result.materialise))
        if (variant.key === "100k") figures.push(...await filesystemFigures(repo))
      }
    } finally {
      await sampler.close()
    }
    const loadAtEnd = loadavg()[0]!
    console.log(`  1-minute load average: ${loadAtStart.toFixed(2)} at the start, ${loadAtEnd.toFixed(2)} at the end (${cpus().length} CPUs)`)
    figures.push({ bench: "workspace", metric: "load_avg_1m_start", value: round(loadAtStart), unit: "load" })
    figures.push({ bench: "workspace", metric: "load_avg_1m_end", value: round(loadAtEnd), unit: "load" })
    figures.push(...growthFigures(results))
    figures.push(verdict("capture_100k", p50(results.get("100k")!.capture), CAPTURE_TARGET_MS))
    figures.push(verdict("materialise_100k", p50(results.get("100k")!.materialise), MATERIALISE_TARGET_MS))
    return figures
  }
}

// Run as a memory probe: `node --import tsx workspace.ts --workspace-memory-probe PHASE REPO STORE MANIFEST`.
if (process.argv[1] === SELF && process.argv[2] === PROBE_FLAG) {
  probeMain(process.argv.slice(3)).catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
