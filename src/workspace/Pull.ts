/**
 * Pulling a run's output back into the user's repository: a three-way comparison of the base
 * (the commit the diff is relative to), the output (base + diff) and the local state.
 *
 * - The diff does not apply to the base → `Conflicted`, with the failing paths; nothing changes
 *   anywhere and nothing is resolved automatically.
 * - HEAD is the base and the working tree and index are clean → the diff is applied to the
 *   working tree only (not staged, so the user reviews it with `git diff`) → `Applied`.
 * - HEAD is the base and the working tree already is the output → `Applied` again
 *   (`alreadyApplied`), nothing touched: pulling twice is a no-op.
 * - Otherwise the local state diverged (HEAD moved, local edits, untracked files, or an ignored
 *   file or symlink in the way): the working tree, index and HEAD are left alone and the output
 *   is committed on `warrant/<runId>` with the base as parent → `Branched`, with how to merge.
 *   An existing branch with the same tree and parent is reused; one with anything else is
 *   refused, never overwritten.
 *
 * The output is always built in a temporary index (`GIT_INDEX_FILE`), so deciding never
 * touches the real one. The diff reaches git on stdin, never on a command line.
 */
import { join } from "node:path"
import { Data, Effect, Either, Schema } from "effect"
import { RunId } from "../protocol/Ids.js"
import type { WorkspacePath } from "../protocol/WorkspacePath.js"
import { Git, GitFailed, withIndex } from "./Git.js"
import { failingPaths, parseNumstatPaths } from "./gitParse.js"
import { parseWorkspaceRelativePath, PathEscape, resolveInsideWorkspace } from "./Paths.js"
import { PullFailed } from "./PullError.js"
import { repositoryRoot, resolveCommit } from "./Repository.js"
import { tempDirectory } from "./TempDir.js"

export type PullResult = Data.TaggedEnum<{
  Applied: { readonly files: ReadonlyArray<WorkspacePath>; readonly alreadyApplied: boolean }
  Branched: {
    readonly branch: string
    readonly commit: string
    readonly files: ReadonlyArray<WorkspacePath>
    /** The branch was there already, from an earlier pull of the same output. */
    readonly alreadyExisted: boolean
    readonly howToMerge: string
  }
  Conflicted: { readonly paths: ReadonlyArray<string>; readonly detail: string }
}>
export const PullResult = Data.taggedEnum<PullResult>()

// Pinned so a repository's `apply.whitespace=fix` cannot rewrite the output while applying it.
const APPLY = ["apply", "--binary", "--whitespace=nowarn"]

/** `warrant/<runId>`, only from a valid run id that also makes a valid ref name (no `..`, `:` or `.lock`). */
export const branchFor = Effect.fn("Pull.branchFor")(function*(root: string, runId: string, refuse: (reason: string) => PullFailed) {
  const git = yield* Git
  const id = Schema.decodeUnknownEither(RunId)(runId)
  if (Either.isLeft(id)) return yield* refuse("it is not a run id (1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit)")
  const branch = `warrant/${id.right}`
  const check = yield* git.run(root, ["check-ref-format", `refs/heads/${branch}`], { okCodes: [1] })
  if (check.exitCode !== 0) return yield* refuse(`${branch} is not a valid branch name`)
  return branch
})

/** The patch's paths, each workspace-relative and outside `.git`, or the first refused one. */
const touchedPaths = Effect.fn("Pull.touchedPaths")(function*(root: string, diff: Uint8Array, refuse: (reason: string) => PullFailed) {
  const git = yield* Git
  // `--numstat` names only a patch's new path; reversed, it names the old one (a rename's source).
  const [forward, reverse] = yield* Effect.all(
    [["apply", "--numstat", "-z"], ["apply", "--numstat", "-z", "-R"]].map((args) => git.run(root, args, { input: diff }))
  ).pipe(Effect.catchTag("GitFailed", (error) => refuse(`the diff is not a patch git can read: ${error.stderr.trim().split("\n")[0] ?? ""}`)))
  const paths: Array<WorkspacePath> = []
  for (const path of new Set([...parseNumstatPaths(forward!.stdout), ...parseNumstatPaths(reverse!.stdout)])) {
    const parsed = parseWorkspaceRelativePath(path)
    if (Either.isLeft(parsed)) return yield* parsed.left
    if (parsed.right.split("/").some((segment) => segment.toLowerCase() === ".git")) {
      return yield* new PathEscape({ path, reason: "it is inside .git" })
    }
    paths.push(parsed.right)
  }
  return paths.sort()
})

/** Whether every touched path stays in the working tree without passing through a symlink that leads out. */
const allInside = (root: string, paths: ReadonlyArray<string>) =>
  Effect.forEach(paths, (path) => resolveInsideWorkspace(root, path, { allowFinalSymlink: true }), { discard: true }).pipe(
    Effect.as(true),
    Effect.catchTag("PathEscape", () => Effect.succeed(false))
  )

export const pull = Effect.fn("Workspace.pull")(function*(dir: string, runId: string, baseRef: string, diff: Uint8Array) {
  const git = yield* Git
  const refuse = (reason: string) => new PullFailed({ dir, runId, reason })
  const root = yield* repositoryRoot(dir).pipe(Effect.mapError(refuse))
  const branch = yield* branchFor(root, runId, refuse)
  const base = yield* resolveCommit(root, baseRef)
  if (base === undefined) return yield* refuse(`the base commit ${JSON.stringify(baseRef)} is not in this repository; fetch it first`)
  if (diff.length === 0) return PullResult.Applied({ files: [], alreadyApplied: true })
  const files = yield* touchedPaths(root, diff, refuse)

  // The output: base + diff in a temporary index. If that fails, the run's work cannot be
  // placed on its own base, and no local state could change that.
  const scratch = yield* tempDirectory("pull")
  const output = withIndex(join(scratch, "output-index"))
  yield* git.run(root, ["read-tree", base], { env: output })
  const applied = yield* git.run(root, [...APPLY, "--cached"], { env: output, input: diff }).pipe(Effect.either)
  if (Either.isLeft(applied)) {
    return PullResult.Conflicted({ paths: failingPaths(applied.left.stderr, files), detail: applied.left.stderr.trim() })
  }
  const outputTree = (yield* git.run(root, ["write-tree"], { env: output })).stdout.toString("utf8").trim()

  const head = yield* resolveCommit(root, "HEAD")
  const status = yield* git.run(root, ["status", "--porcelain=v1", "-z", "--untracked-files=all"])
  const clean = status.stdout.length === 0
  if (head === base) {
    if (clean && (yield* allInside(root, files))) {
      const fits = yield* git.run(root, [...APPLY, "--check"], { input: diff }).pipe(Effect.as(true), Effect.catchTag("GitFailed", () => Effect.succeed(false)))
      if (fits) {
        yield* git.run(root, APPLY, { input: diff })
        return PullResult.Applied({ files, alreadyApplied: false })
      }
    }
    if (!clean && (yield* worktreeTree(root, outputTree, join(scratch, "local-index"))) === outputTree) {
      return PullResult.Applied({ files, alreadyApplied: true })
    }
  }

  const howToMerge = clean ? `git merge ${branch}` : `commit or stash your local changes, then: git merge ${branch}`
  const existing = yield* resolveCommit(root, `refs/heads/${branch}`)
  if (existing !== undefined) {
    const [tree, parents] = yield* Effect.all([
      git.run(root, ["rev-parse", `${existing}^{tree}`]),
      git.run(root, ["rev-list", "--parents", "-n", "1", existing])
    ])
    if (tree.stdout.toString("utf8").trim() === outputTree && parents.stdout.toString("utf8").trim() === `${existing} ${base}`) {
      return PullResult.Branched({ branch, commit: existing, files, alreadyExisted: true, howToMerge })
    }
    return yield* refuse(`the branch ${branch} already exists with other content; delete it (git branch -D ${branch}) to pull again`)
  }
  const message = `warrant: output of run ${runId}\n\nBase: ${base}\n`
  const commit = (yield* git.run(root, ["commit-tree", outputTree, "-p", base, "-F", "-"], { input: Buffer.from(message, "utf8") }))
    .stdout.toString("utf8").trim()
  // An empty old value makes the update create-only: a branch that appeared meanwhile is not overwritten.
  yield* git.run(root, ["update-ref", "-m", `warrant: pull run ${runId}`, `refs/heads/${branch}`, commit, ""]).pipe(
    Effect.catchTag("GitFailed", (error: GitFailed) => refuse(`the branch ${branch} could not be created: ${error.stderr.trim()}`))
  )
  return PullResult.Branched({ branch, commit, files, alreadyExisted: false, howToMerge })
}, Effect.scoped)

/**
 * The tree the working tree would be if committed, seen from the output's tree: starting from
 * the output keeps its files in view even where an ignore rule would hide a new file.
 */
const worktreeTree = (root: string, outputTree: string, indexFile: string) =>
  Effect.gen(function*() {
    const git = yield* Git
    const env = withIndex(indexFile)
    yield* git.run(root, ["read-tree", outputTree], { env })
    yield* git.run(root, ["add", "-A"], { env })
    return (yield* git.run(root, ["write-tree"], { env })).stdout.toString("utf8").trim()
  })
