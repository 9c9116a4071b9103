/**
 * A private scratch directory outside every repository, removed with the scope: where temporary
 * git indexes and staged blob copies live, so the repository's own index is never touched.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"

export const scratchDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), `warrant-${prefix}-`))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

/** The environment that points git at a temporary index file instead of `.git/index`. */
export const withIndex = (indexFile: string): Record<string, string> => ({ GIT_INDEX_FILE: indexFile })
