/**
 * The session's real working directory: the execution's cwd resolved inside the workspace,
 * symlinks followed, refused when it leads outside or is not a directory.
 */
import { realpath, stat } from "node:fs/promises"
import { Effect } from "effect"
import type { IsolationTier } from "../protocol/Ids.js"
import { isWithin, resolveCwd } from "./ProcessEnv.js"
import { SessionFailed } from "./SessionBackend.js"

export const workingDirectory = (tier: IsolationTier, workspace: string, cwd: string): Effect.Effect<string, SessionFailed> =>
  Effect.gen(function*() {
    const failed = (reason: string) => new SessionFailed({ tier, reason })
    const missing = () => failed(`the working directory ${JSON.stringify(cwd)} does not exist in the workspace`)
    const lexical = resolveCwd(workspace, cwd)
    if (lexical._tag === "Left") return yield* failed(lexical.left)
    const [realRoot, realDir] = yield* Effect.tryPromise({
      try: () => Promise.all([realpath(workspace), realpath(lexical.right)]),
      catch: missing
    })
    if (!isWithin(realRoot, realDir)) {
      return yield* failed(`the working directory ${JSON.stringify(cwd)} leads outside the workspace`)
    }
    const info = yield* Effect.tryPromise({ try: () => stat(realDir), catch: missing })
    if (!info.isDirectory()) return yield* failed(`the working directory ${JSON.stringify(cwd)} is not a directory`)
    return realDir
  })
