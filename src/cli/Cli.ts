/**
 * The `warrant` command and its subcommands.
 */
import { Command } from "@effect/cli"
import { doctorCommand } from "./commands/doctor.js"
import { egressCommand } from "./commands/egress.js"
import { execCommand } from "./commands/exec.js"
import { planeCommand } from "./commands/plane.js"
import { verifyCommand } from "./commands/verify.js"

export const warrant = Command.make("warrant").pipe(
  Command.withDescription("Warrant: governed execution and provenance for AI coding agents"),
  Command.withSubcommands([verifyCommand, egressCommand, execCommand, doctorCommand, planeCommand])
)

export const run = Command.run(warrant, { name: "warrant", version: "0.1.0" })
