/**
 * POSIX shell quoting, and the script that starts a session inside a VM: create and enter
 * its working directory, export its environment, exec its command. Every word is single-quoted,
 * so nothing in a value — `$`, backticks, quotes, newlines — is ever expanded. Pure.
 */
import { Either } from "effect"
import type { PreparedCommand } from "./Execution.js"

/**
 * One word for `sh`: inside single quotes nothing is special except the closing quote,
 * which is written as `'\''` (close, an escaped quote, reopen).
 */
export const quote = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`

/** A name `export` accepts without it being parsed as anything else. */
export const isEnvName = (name: string): boolean => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)

/** The words the command runs as: argv as given, a script through its own shell. */
export const commandWords = (command: PreparedCommand): ReadonlyArray<string> =>
  command.kind === "argv" ? command.argv : [command.shell, "-c", command.script]

export interface SessionScript {
  /** Absolute directory inside the VM. */
  readonly cwd: string
  /** The session's whole environment, secrets substituted. */
  readonly env: Readonly<Record<string, string>>
  readonly command: PreparedCommand
}

/**
 * The script the VM's `sh` runs, or why it cannot be written. A shell string cannot hold
 * a NUL byte, so a value with one is refused rather than silently cut; a refusal names the
 * variable, never its value.
 */
export const sessionScript = ({ command, cwd, env }: SessionScript): Either.Either<string, string> => {
  const lines: Array<string> = []
  if (cwd.includes("\0")) return Either.left("the working directory contains a NUL byte")
  // A directory with no files in it was not staged; the VM gets it here.
  lines.push(`mkdir -p -- ${quote(cwd)} && cd -- ${quote(cwd)} || exit 1`)
  for (const [name, value] of Object.entries(env)) {
    if (!isEnvName(name)) return Either.left(`the variable name ${JSON.stringify(name)} is not a valid shell name`)
    if (value.includes("\0")) return Either.left(`the value of ${name} contains a NUL byte`)
    lines.push(`export ${name}=${quote(value)}`)
  }
  const words = commandWords(command)
  if (words.some((word) => word.includes("\0"))) return Either.left("the command contains a NUL byte")
  // exec: the command replaces the wrapper, so its exit code is the session's.
  lines.push(`exec ${words.map(quote).join(" ")}`)
  return Either.right(`${lines.join("\n")}\n`)
}
