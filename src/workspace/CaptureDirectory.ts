/**
 * Capture of a plain directory (not a git repository): only regular files an explicit allowlist
 * names are shipped, each as its own blob. Every path in the directory is judged against the
 * deny patterns, so the manifest still proves what was refused.
 */
import type { Dirent } from "node:fs"
import { lstat, readdir } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import type { DeniedPath, Manifest, ManifestFile } from "../protocol/Manifest.js"
import type { BlobSink } from "./Blobs.js"
import { wirePath } from "./CaptureGit.js"
import type { PathMatcher } from "./DenyPatterns.js"
import type { PathEscape } from "./Paths.js"
import { symlinkEscape } from "./Symlinks.js"
import { CaptureFailed } from "./WorkspaceError.js"

export interface DirectoryCaptureInput {
  readonly root: string
  readonly deny: PathMatcher
  readonly files: PathMatcher
  readonly deniedPatterns: ReadonlyArray<string>
}

/** Every entry below `root` (directories are descended, symlinks are not followed), depth first, in name order. */
const walk = async (root: string): Promise<Array<{ path: string; entry: Dirent }>> => {
  const out: Array<{ path: string; entry: Dirent }> = []
  const visit = async (relative: string) => {
    const entries = await readdir(relative === "" ? root : join(root, relative), { withFileTypes: true })
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const entry of entries) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`
      if (entry.isDirectory()) await visit(path)
      else out.push({ path, entry })
    }
  }
  await visit("")
  return out
}

export const captureDirectory = <E>(input: DirectoryCaptureInput, sink: BlobSink<E>): Effect.Effect<Manifest, CaptureFailed | PathEscape | E> =>
  Effect.gen(function*() {
    const { root, deny, files: allow } = input
    const failed = (reason: string) => new CaptureFailed({ directory: root, reason })
    const entries = yield* Effect.promise(() => walk(root))
    const denied: Array<DeniedPath> = []
    const shipped: Array<string> = []
    for (const { path, entry } of entries) {
      const pattern = deny.firstMatch(path)
      if (pattern !== undefined) {
        denied.push({ path: yield* wirePath(path), pattern })
        continue
      }
      if (allow.firstMatch(path) === undefined) continue
      if (entry.isSymbolicLink()) {
        const why = yield* symlinkEscape(root, path)
        return yield* failed(why !== undefined
          ? `${path} is a symlink that cannot be shipped: ${why}; replace it with the file it points to or leave it out of the allowlist`
          : `${path} is a symlink; a plain directory capture ships regular files only, so list the file it points to instead`)
      }
      if (!entry.isFile()) return yield* failed(`${path} is not a regular file; leave it out of the allowlist`)
      shipped.push(path)
    }
    const files = yield* Effect.forEach(shipped, (path) =>
      Effect.gen(function*() {
        const absolute = join(root, path)
        const [ref, info] = yield* Effect.all([sink.putFile(absolute), Effect.promise(() => lstat(absolute))])
        const file: ManifestFile = {
          path: yield* wirePath(path),
          hash: ref.hash,
          size: ref.size,
          ...((info.mode & 0o100) !== 0 ? { executable: true } : {}),
          untracked: true
        }
        return file
      }), { concurrency: 16 })
    const manifest: Manifest = {
      version: "warrant.manifest.v1",
      source: "directory",
      files,
      denied,
      deniedPatterns: [...input.deniedPatterns]
    }
    return manifest
  })
