/**
 * Commands end with a specific process exit code by failing with ExitCode; the entry point
 * turns it into `process.exitCode` after the command has printed what it had to say.
 */
import { Data } from "effect"

export class ExitCode extends Data.TaggedError("ExitCode")<{ readonly code: number }> {}
