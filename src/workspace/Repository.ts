/**
 * Locating a repository and a commit in it. A directory that merely sits inside some
 * repository is refused: every path in a diff is relative to the top level, and git run from a
 * subdirectory would quietly skip what lies outside it.
 */
import { realpath } from "node:fs/promises"
import { Effect } from "effect"
import { Git } from "./Git.js"

/** The top of the repository at `dir`, refusing a directory that only sits inside one. */
export const repositoryRoot = Effect.fn("Workspace.repositoryRoot")(function*(dir: string) {
  const git = yield* Git
  const root = yield* Effect.tryPromise({ try: () => realpath(dir), catch: () => "it does not exist" })
  const top = yield* git.run(root, ["rev-parse", "--show-toplevel"]).pipe(Effect.mapError(() => "it is not a git repository"))
  const topReal = yield* Effect.tryPromise({ try: () => realpath(top.stdout.toString("utf8").replace(/\n$/, "")), catch: () => "its top level is unreadable" })
  if (topReal !== root) return yield* Effect.fail(`it is inside the repository ${topReal}, not its top level`)
  return root
})

/** The full id of the commit `ref` names, or undefined. `--end-of-options` keeps a ref like `-x` from being an option. */
export const resolveCommit = Effect.fn("Workspace.resolveCommit")(function*(root: string, ref: string) {
  const git = yield* Git
  const result = yield* git.run(root, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`], { okCodes: [1, 128] })
  const id = result.stdout.toString("utf8").trim()
  return result.exitCode === 0 && id !== "" ? id : undefined
})
