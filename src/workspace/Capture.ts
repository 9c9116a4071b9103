/**
 * Workspace capture: what a run may see of a directory, as a manifest plus blobs. A git working
 * tree ships as a history-free snapshot bundle, a dirty diff and allowlisted untracked files; a
 * plain directory ships only the files an explicit allowlist names. Deny patterns apply to every
 * path either way, and the manifest lists what they refused.
 */
import { realpath } from "node:fs/promises"
import { dirname } from "node:path"
import { Effect } from "effect"
import type { Manifest } from "../protocol/Manifest.js"
import type { BlobSink } from "./Blobs.js"
import { captureDirectory } from "./CaptureDirectory.js"
import { captureGit } from "./CaptureGit.js"
import { allowMatcher, denyMatcher, effectiveDenyPatterns } from "./DenyPatterns.js"
import { Git, type GitFailed } from "./Git.js"
import type { PathEscape } from "./Paths.js"
import { CaptureFailed } from "./WorkspaceError.js"

export { DEFAULT_DENY_PATTERNS } from "./DenyPatterns.js"

export interface CaptureOptions {
  /** Globs (anchored at the root, `**` for every depth) of untracked files to ship; ignored files never ship. */
  readonly allowUntracked?: ReadonlyArray<string>
  /** The organisation's deny patterns, added to DEFAULT_DENY_PATTERNS. */
  readonly denyPatterns?: ReadonlyArray<string>
  /**
   * For a directory that is not a git repository: the files to ship, as anchored globs or plain
   * relative paths (a directory's path ships what is below it). Without it such a directory is refused.
   */
  readonly files?: ReadonlyArray<string>
}

/** A glob that could reach outside the tree is a mistake worth stopping on, not a pattern to match. */
const badGlob = (globs: ReadonlyArray<string>): string | undefined =>
  globs.find((glob) => glob === "" || glob.startsWith("/") || glob.split("/").includes(".."))

export const capture = <E = never>(dir: string, options: CaptureOptions, sink: BlobSink<E>): Effect.Effect<Manifest, CaptureFailed | PathEscape | GitFailed | E, Git> =>
  Effect.gen(function*() {
    const root = yield* Effect.tryPromise({
      try: () => realpath(dir),
      catch: () => new CaptureFailed({ directory: dir, reason: "it does not exist or cannot be read" })
    })
    const failed = (reason: string) => new CaptureFailed({ directory: root, reason })
    for (const [name, globs] of [["allowUntracked", options.allowUntracked], ["files", options.files]] as const) {
      const bad = badGlob(globs ?? [])
      if (bad !== undefined) return yield* failed(`the ${name} glob ${JSON.stringify(bad)} is empty, absolute or has a '..' segment; write it relative to the root`)
    }
    const deniedPatterns = effectiveDenyPatterns(options.denyPatterns)
    const deny = denyMatcher(deniedPatterns)

    // The ceiling keeps git from finding a repository above `root`: only `root` itself counts.
    const git = yield* Git
    const probe = yield* git.run(root, ["rev-parse", "--show-toplevel"], { env: { GIT_CEILING_DIRECTORIES: dirname(root) }, okCodes: [128] })
    const topLevel = probe.exitCode === 0 ? probe.stdout.toString("utf8").trim() : undefined

    if (topLevel === root) return yield* captureGit({ root, deny, allow: allowMatcher(options.allowUntracked ?? []), deniedPatterns }, sink)
    if (options.files === undefined) {
      return yield* failed("it is not the root of a git repository; capture it with an explicit file allowlist (files), or make it a git repository and commit")
    }
    return yield* captureDirectory({ root, deny, files: allowMatcher(options.files), deniedPatterns }, sink)
  }).pipe(Effect.withSpan("Workspace.capture"))
