/**
 * Real git repositories in scoped temp dirs for the workspace tests: init, write, commit,
 * clone, and a byte-level snapshot of a working tree (every file's hash, mode and link target).
 */
import { createHash } from "node:crypto"
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { Effect, type Scope } from "effect"
import { Git } from "../../../src/workspace/Git.js"

/** A fresh directory under the system temp dir, removed with the scope. */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), `warrant-${prefix}-`))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

export const git = (cwd: string, ...args: ReadonlyArray<string>) =>
  Effect.flatMap(Git, (g) => g.run(cwd, args)).pipe(Effect.map((result) => result.stdout.toString("utf8").trim()))

/** A fresh repository on branch `main` with `files` committed; returns its dir and the commit. */
export const repoWith = (files: Readonly<Record<string, string | Uint8Array>>) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("repo")
    yield* git(dir, "init", "-q", "-b", "main")
    for (const [path, content] of Object.entries(files)) write(dir, path, content)
    const base = yield* commitAll(dir, "base")
    return { dir, base }
  })

export const commitAll = (dir: string, message: string) =>
  Effect.gen(function*() {
    yield* git(dir, "add", "-A")
    yield* git(dir, "commit", "-q", "--allow-empty", "-m", message)
    return yield* git(dir, "rev-parse", "HEAD")
  })

/** A clone of `dir` at its HEAD: the "remote" workspace a session works in. */
export const cloneOf = (dir: string) =>
  Effect.gen(function*() {
    const parent = yield* tempDir("clone")
    const clone = join(parent, "ws")
    yield* git(parent, "clone", "-q", dir, clone)
    return clone
  })

export const write = (dir: string, path: string, content: string | Uint8Array, mode?: number): void => {
  const target = join(dir, path)
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, content)
  if (mode !== undefined) chmodSync(target, mode)
}

export const link = (dir: string, path: string, target: string): void => {
  mkdirSync(dirname(join(dir, path)), { recursive: true })
  symlinkSync(target, join(dir, path))
}

export const read = (dir: string, path: string): string => readFileSync(join(dir, path), "utf8")

const sha = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex")

/** Every entry below `dir` except `.git`: `file 755 <sha>` / `link <target>`, by path. */
export const snapshot = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (relative: string) => {
    for (const name of readdirSync(join(dir, relative)).sort()) {
      if (relative === "" && name === ".git") continue
      const path = relative === "" ? name : `${relative}/${name}`
      const info = lstatSync(join(dir, path))
      if (info.isSymbolicLink()) out[path] = `link ${readlinkSync(join(dir, path))}`
      else if (info.isDirectory()) walk(path)
      else out[path] = `file ${(info.mode & 0o777).toString(8)} ${sha(readFileSync(join(dir, path)))}`
    }
  }
  walk("")
  return out
}

/** Deterministic bytes that include NULs and every byte value: a binary file git cannot diff as text. */
export const binaryBytes = (seed: number, length = 4096): Uint8Array => {
  const bytes = new Uint8Array(length)
  let state = seed >>> 0
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    bytes[i] = i % 97 === 0 ? 0 : state >>> 24
  }
  return bytes
}

export const sha256Of = (data: Uint8Array | string): string => `sha256:${sha(data)}`
