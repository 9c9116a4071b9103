/**
 * The one place workspace path escape is decided. `parseWorkspaceRelativePath` judges the
 * string alone (absolute, `..`, NUL, backslash, empty segments); `resolveInsideWorkspace` then
 * walks the real filesystem from the workspace's real root, so a symlink — anywhere on the
 * way — that leads outside is refused. Every module that writes a path from outside uses both.
 */
import { lstat, realpath } from "node:fs/promises"
import { isAbsolute, join, relative, sep } from "node:path"
import { Effect, Either, Schema } from "effect"
import { isWorkspaceRelative, WorkspacePath } from "../protocol/WorkspacePath.js"

export class PathEscape extends Schema.TaggedError<PathEscape>()("PathEscape", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `the path ${JSON.stringify(this.path.slice(0, 300))} is refused: ${this.reason}`
  }
}

const why = (path: string): string => {
  if (path.length === 0) return "it is empty"
  if (path.length > 4096) return "it is longer than 4096 characters"
  if (path.includes("\0")) return "it contains a NUL character"
  if (path.startsWith("/")) return "it is absolute"
  if (path.includes("\\")) return "it contains a backslash"
  if (path.split("/").includes("..")) return "it has a '..' segment"
  return "it has an empty segment"
}

/** A workspace-relative path, normalised of `.` segments, or why it is refused. */
export const parseWorkspaceRelativePath = (path: string): Either.Either<WorkspacePath, PathEscape> => {
  const cleaned = path.split("/").filter((segment) => segment !== ".").join("/")
  if (!isWorkspaceRelative(path) || cleaned.length === 0 || cleaned.endsWith("/")) {
    return Either.left(new PathEscape({ path, reason: cleaned.length === 0 && isWorkspaceRelative(path) ? "it names the workspace itself" : why(path) }))
  }
  return Either.right(WorkspacePath.make(cleaned))
}

/** Whether `path` is `root` or below it (both absolute and normalised). */
export const isWithin = (root: string, path: string): boolean => {
  const rel = relative(root, path)
  return rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`))
}

export interface ResolveOptions {
  /**
   * The last segments may not exist yet (a file about to be written); each existing prefix is
   * still checked. Default true.
   */
  readonly allowMissing?: boolean
  /** Whether the final segment may itself be a symlink (kept, not followed). Default false. */
  readonly allowFinalSymlink?: boolean
}

/**
 * The absolute path of `path` inside the workspace `root`: every existing segment is checked
 * with lstat, and a symlink on the way is followed only to see that it stays inside (its real
 * target must be within the root's real path).
 */
export const resolveInsideWorkspace = (root: string, path: string, options: ResolveOptions = {}): Effect.Effect<string, PathEscape> =>
  Effect.gen(function*() {
    const parsed = parseWorkspaceRelativePath(path)
    if (Either.isLeft(parsed)) return yield* parsed.left
    const escape = (reason: string) => new PathEscape({ path, reason })
    const realRoot = yield* Effect.tryPromise({ try: () => realpath(root), catch: () => escape("the workspace does not exist") })
    const segments = parsed.right.split("/")
    let current = realRoot
    for (let i = 0; i < segments.length; i++) {
      const next = join(current, segments[i]!)
      const info = yield* Effect.promise(() => lstat(next).catch(() => undefined))
      if (info === undefined) {
        if (options.allowMissing === false) return yield* escape("it does not exist in the workspace")
        return join(next, ...segments.slice(i + 1))
      }
      const last = i === segments.length - 1
      if (info.isSymbolicLink()) {
        if (last && options.allowFinalSymlink === true) return next
        const target = yield* Effect.promise(() => realpath(next).catch(() => undefined))
        if (target === undefined) return yield* escape(`${segments.slice(0, i + 1).join("/")} is a dangling symlink`)
        if (!isWithin(realRoot, target)) return yield* escape(`${segments.slice(0, i + 1).join("/")} is a symlink leading outside the workspace`)
        current = target
      } else {
        if (!last && !info.isDirectory()) return yield* escape(`${segments.slice(0, i + 1).join("/")} is not a directory`)
        current = next
      }
    }
    return current
  })
