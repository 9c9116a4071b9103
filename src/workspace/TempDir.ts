/**
 * Private temporary directories for capture and materialise, removed with their scope. The
 * parent is a parameter so a runner can keep workspaces on a disk of its choosing (and a test
 * can see that nothing is left behind).
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"

export const removeTree = (dir: string): Effect.Effect<void> => Effect.promise(() => rm(dir, { recursive: true, force: true }))

export const tempDirectory = (prefix: string, parent: string = tmpdir()): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.promise(() => mkdtemp(join(parent, `warrant-${prefix}-`))), removeTree)
