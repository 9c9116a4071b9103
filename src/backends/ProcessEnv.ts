/**
 * What the process tier hands to `spawn`, as pure functions of the prepared execution: the
 * program and its arguments, the working directory (never outside the workspace), and the
 * scrubbed environment — PATH and HOME from the host, the prepared variables, released
 * secrets substituted, and the egress proxy variables last so nothing can override them.
 */
import { isAbsolute, relative, resolve, sep } from "node:path"
import { Either, Redacted } from "effect"
import type { ReleasedSecret } from "./SessionBackend.js"
import type { EnvValue, PreparedCommand } from "./Execution.js"

/** The only host variables a session inherits. */
export const inheritedVariables = ["PATH", "HOME"] as const

/** Every variable that points a client at the egress proxy, and the bypass list emptied. */
export const proxyVariables = (url: string): Readonly<Record<string, string>> => ({
  HTTP_PROXY: url,
  HTTPS_PROXY: url,
  http_proxy: url,
  https_proxy: url,
  NO_PROXY: "",
  no_proxy: ""
})

export interface EnvInput {
  /** The host environment; only `inheritedVariables` are read from it. */
  readonly host: Readonly<Record<string, string | undefined>>
  readonly prepared: Readonly<Record<string, EnvValue>>
  readonly secrets: ReadonlyArray<ReleasedSecret>
  /** The per-session egress proxy, when the execution routes through one. */
  readonly proxyUrl: string | undefined
}

/** The child's whole environment. A secret mapping whose secret was not released is omitted. */
export const buildEnv = ({ host, prepared, proxyUrl, secrets }: EnvInput): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const name of inheritedVariables) {
    const value = host[name]
    if (value !== undefined) env[name] = value
  }
  const released = new Map(secrets.map((secret) => [secret.name, secret.value] as const))
  for (const [name, value] of Object.entries(prepared)) {
    if (value._tag === "Literal") {
      env[name] = value.value
      continue
    }
    const secret = released.get(value.secret)
    if (secret !== undefined) env[name] = Redacted.value(secret)
  }
  if (proxyUrl !== undefined) Object.assign(env, proxyVariables(proxyUrl))
  return env
}

/** The program `spawn` runs and its arguments: argv as given, a script through its shell. */
export const commandLine = (command: PreparedCommand): { readonly file: string; readonly args: ReadonlyArray<string> } =>
  command.kind === "argv"
    ? { file: command.argv[0], args: command.argv.slice(1) }
    : { file: command.shell, args: ["-c", command.script] }

/** Whether `path` is `root` or below it (both absolute and normalised). */
export const isWithin = (root: string, path: string): boolean => {
  const rel = relative(root, path)
  return rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`))
}

/** The absolute working directory, or why the execution's cwd is refused (lexically). */
export const resolveCwd = (workspace: string, cwd: string): Either.Either<string, string> => {
  const root = resolve(workspace)
  const dir = resolve(root, cwd)
  return isWithin(root, dir)
    ? Either.right(dir)
    : Either.left(`the working directory ${JSON.stringify(cwd)} is outside the workspace`)
}

/** Why the environment cannot be handed to a program: a NUL cannot be in a name or value. */
export const envProblem = (env: Readonly<Record<string, string>>): string | undefined => {
  for (const [name, value] of Object.entries(env)) {
    if (name === "" || name.includes("=") || name.includes("\0")) return `the environment variable name ${JSON.stringify(name)} is invalid`
    if (value.includes("\0")) return `the environment variable ${name} contains a NUL character`
  }
  return undefined
}
