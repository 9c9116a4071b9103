/**
 * A faithful stand-in for a Vercel Sandbox: the VM's filesystem is a just-bash in-memory
 * filesystem, commands run in a just-bash interpreter over it, the workdir listing is
 * produced from that filesystem in the listing script's own format, and every call is
 * recorded. It can be told to fail each step, to hang a command until it is aborted, and
 * to report hostile entries in its listing.
 */
import { Bash, InMemoryFs } from "just-bash"
import { quote } from "../../../src/backends/ShellQuote.js"
import type { VercelCredentials } from "../../../src/backends/VercelCredentials.js"
import type { CreateInput } from "../../../src/backends/VercelCreate.js"
import { formatListing, type ListedEntry, sha256, SKIPPED_DIRS } from "../../../src/backends/VercelMirror.js"
import type { CreateSandbox, RunParams, SandboxFile, SandboxSession } from "../../../src/backends/VercelSdk.js"

export interface FakeOptions {
  /** `create` rejects with this message. */
  readonly failCreate?: string
  /** `stop` rejects with this message. */
  readonly failStop?: string
  /** The n-th `writeFiles` call (0-based) rejects. */
  readonly failWriteAt?: number
  /** `runCommand` rejects with this message instead of running. */
  readonly failCommand?: string
  /** `runCommand` starts, then waits for its abort signal. */
  readonly hang?: boolean
  /** Entries reported after the real ones, as a hostile VM could. */
  readonly extraListing?: ReadonlyArray<ListedEntry>
  /** Replaces the whole listing text. */
  readonly rawListing?: string
}

export interface RecordedCommand {
  readonly cmd: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly timeoutMs: number
}

export interface FakeVercel {
  readonly createSandbox: CreateSandbox
  readonly creates: Array<{ readonly input: CreateInput; readonly credentials: VercelCredentials }>
  /** Each `writeFiles` call, in order. */
  readonly writes: Array<ReadonlyArray<SandboxFile>>
  readonly commands: Array<RecordedCommand>
  readonly reads: Array<string>
  readonly listings: Array<string>
  /** How many times `stop` was called. */
  stops: number
  /** Whether a running command saw its abort signal. */
  aborted: boolean
  /** Resolves once a command has started. */
  readonly started: Promise<void>
  /** The VM's filesystem. */
  readonly fs: InMemoryFs
}

const walk = async (fs: InMemoryFs, root: string, relative: string, out: Array<ListedEntry>): Promise<void> => {
  const dir = relative === "" ? root : `${root}/${relative}`
  for (const name of (await fs.readdir(dir)).sort()) {
    const path = relative === "" ? name : `${relative}/${name}`
    const full = `${root}/${path}`
    const info = await fs.lstat(full)
    if (info.isSymbolicLink) out.push({ path, kind: "symlink", mode: info.mode & 0o777, sha256: undefined })
    else if (info.isDirectory) {
      // As `find -name … -prune` does: by exact name.
      if (!SKIPPED_DIRS.includes(name)) await walk(fs, root, path, out)
    } else if (info.isFile) out.push({ path, kind: "file", mode: info.mode & 0o777, sha256: sha256(await fs.readFileBuffer(full)) })
    else out.push({ path, kind: "other", mode: info.mode & 0o777, sha256: undefined })
  }
}

export const makeFakeVercel = (options: FakeOptions = {}): FakeVercel => {
  const fs = new InMemoryFs()
  let markStarted: () => void = () => {}
  const started = new Promise<void>((resolve) => {
    markStarted = resolve
  })
  const fake: FakeVercel = {
    // `session` is defined below; create is only ever called after this function returns.
    createSandbox: async (input, credentials) => {
      fake.creates.push({ input, credentials })
      if (options.failCreate !== undefined) throw new Error(options.failCreate)
      return session
    },
    creates: [],
    writes: [],
    commands: [],
    reads: [],
    listings: [],
    stops: 0,
    aborted: false,
    started,
    fs
  }

  const runCommand = async ({ args, cmd, cwd, onOutput, signal, timeoutMs }: RunParams) => {
    fake.commands.push({ cmd, args, cwd, timeoutMs })
    markStarted()
    if (options.failCommand !== undefined) throw new Error(options.failCommand)
    if (options.hang) {
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }))
      fake.aborted = true
      throw new Error("aborted")
    }
    const bash = new Bash({ fs, cwd })
    const result = await bash.exec([cmd, ...args].map(quote).join(" "), { signal })
    if (signal.aborted) fake.aborted = true
    if (result.stdout !== "") onOutput("stdout", result.stdout)
    if (result.stderr !== "") onOutput("stderr", result.stderr)
    return { exitCode: result.exitCode }
  }

  const session: SandboxSession = {
    writeFiles: async (files) => {
      const index = fake.writes.length
      fake.writes.push(files)
      if (options.failWriteAt === index) throw new Error(`write ${index} refused`)
      for (const file of files) {
        const parent = file.path.slice(0, file.path.lastIndexOf("/")) || "/"
        await fs.mkdir(parent, { recursive: true })
        await fs.writeFile(file.path, file.content)
        await fs.chmod(file.path, file.mode)
      }
    },
    runCommand,
    listFiles: async (dir) => {
      if (options.rawListing !== undefined) return options.rawListing
      const entries: Array<ListedEntry> = []
      // As the listing script does: a workdir that does not exist lists as empty.
      if (await fs.exists(dir)) await walk(fs, dir, "", entries)
      const text = formatListing([...entries, ...(options.extraListing ?? [])])
      fake.listings.push(text)
      return text
    },
    readFile: async (path) => {
      fake.reads.push(path)
      return (await fs.exists(path)) ? fs.readFileBuffer(path) : null
    },
    stop: async () => {
      fake.stops++
      if (options.failStop !== undefined) throw new Error(options.failStop)
    }
  }
  return fake
}
