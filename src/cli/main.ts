#!/usr/bin/env node
/**
 * The `warrant` binary. Usage errors exit 2; a command's ExitCode sets the exit status.
 */
import { ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { run } from "./Cli.js"

run(process.argv).pipe(
  Effect.catchTag("ExitCode", (e) => Effect.sync(() => void (process.exitCode = e.code))),
  // @effect/cli has already printed the usage problem; only the status is left to set.
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => void (process.exitCode = 2))),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)
