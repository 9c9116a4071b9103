/**
 * `warrant exec --isolation TIER [--image IMAGE] [--runtime docker|podman] [--allow HOST...] [--allow-address CIDR...]
 * [--secret NAME[=VALUE]...] [--enforce DIM...] [--timeout DURATION] [--workspace DIR] -- COMMAND...`:
 * one governed session on a local directory, no plane. Exits with the command's code, 124 on
 * timeout, 127 when it cannot be spawned, 125 when the session is refused.
 */
import { Args, Command, Options } from "@effect/cli"
import { resolve } from "node:path"
import { Console, Effect, Either, Option, Redacted, Schema } from "effect"
import { layerSystem as egressLayer } from "../../egress/EgressProxy.js"
import type { PreparedExecution } from "../../backends/Execution.js"
import { executionHash } from "../../backends/Prepare.js"
import type { Attestation } from "../../backends/Matrix.js"
import * as Select from "../../backends/Select.js"
import { runSession } from "../../backends/Session.js"
import { type Dimension, dimensions, EnvName, SecretName } from "../../protocol/Ids.js"
import { ExitCode } from "../ExitCode.js"
import { localTiers } from "../Tiers.js"

/** The session was refused before anything ran (tier, matrix or preparation). */
export const REFUSED_EXIT = 125

const isolation = Options.choice("isolation", ["process", "hermetic", "namespace", "container", "vercel-sandbox"]).pipe(
  Options.withDescription(
    "the isolation tier: process (child process + egress proxy), hermetic (just-bash), namespace (bubblewrap), container (docker/podman) or vercel-sandbox (microVM); `warrant doctor` says which are ready"
  )
)
const image = Options.text("image").pipe(Options.withDescription("the container tier's image (default: $WARRANT_CONTAINER_IMAGE)"), Options.optional)
const runtime = Options.choice("runtime", ["docker", "podman"]).pipe(Options.withDescription("the container runtime (default: docker if on PATH, else podman)"), Options.optional)
const allow = Options.text("allow").pipe(Options.repeated, Options.withDescription("an allowed host[:port] or *.domain; repeatable"))
const allowAddress = Options.text("allow-address").pipe(
  Options.repeated,
  Options.withDescription("an address or CIDR that may be dialled although it is loopback or private; repeatable")
)
const secret = Options.text("secret").pipe(
  Options.repeated,
  Options.withDescription("NAME=VALUE, or NAME to take the value from this shell's NAME; released as $NAME and redacted from the output")
)
const enforce = Options.choice("enforce", dimensions).pipe(
  Options.repeated,
  Options.withDescription("a dimension the tier must enforce, not merely attest; the session is refused otherwise")
)
const timeout = Options.text("timeout").pipe(Options.withDescription("e.g. 300ms, 30s, 5m (default 10m)"), Options.optional)
const workspace = Options.directory("workspace").pipe(Options.withDescription("the directory the session works in (default: the current one)"), Options.optional)
const command = Args.text({ name: "COMMAND" }).pipe(Args.repeated, Args.withDescription("the words after --, joined into one sh script"))

export const parseDuration = (text: string): Either.Either<number, string> => {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim())
  if (match === null) return Either.left(`--timeout ${JSON.stringify(text)}: expected a number with ms, s, m or h, e.g. 30s`)
  const ms = Number(match[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as "ms" | "s" | "m" | "h"]
  return ms >= 1 && ms <= 86_400_000 ? Either.right(Math.round(ms)) : Either.left(`--timeout ${text}: must be between 1ms and 24h`)
}

const isEnvName = Schema.is(EnvName)
const isSecretName = Schema.is(SecretName)

/** The name is both the variable the session sees and the secret's name, so it must be both. */
export const parseSecret = (
  text: string,
  env: Readonly<Record<string, string | undefined>>
): Either.Either<{ readonly name: SecretName; readonly value: Redacted.Redacted<string> }, string> => {
  const eq = text.indexOf("=")
  const name = eq < 0 ? text : text.slice(0, eq)
  if (!isEnvName(name) || !isSecretName(name)) {
    return Either.left(`--secret ${JSON.stringify(name)}: not an environment variable name (letters, digits and _, at most 128)`)
  }
  const value = eq < 0 ? env[name] : text.slice(eq + 1)
  if (value === undefined) return Either.left(`--secret ${name}: no value given and $${name} is not set`)
  return Either.right({ name, value: Redacted.make(value) })
}

const usage = (message: string) => Console.error(`warrant exec: ${message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 2 }))))

export const renderMatrix = (attestation: Attestation): string =>
  `${attestation.tier} tier: ${dimensions.map((d) => `${d} ${attestation.matrix[d]}`).join(", ")}` +
  (attestation.enforce.length === 0 ? "" : ` (enforcement demanded: ${attestation.enforce.join(", ")})`)

export const execCommand = Command.make("exec", { isolation, image, runtime, allow, allowAddress, secret, enforce, timeout, workspace, command }, (args) =>
  Effect.gen(function*() {
    if (args.command.length === 0) return yield* usage("give the command after --, e.g. warrant exec --isolation process -- npm test")
    const timeoutMs = Option.isSome(args.timeout) ? parseDuration(args.timeout.value) : Either.right(600_000)
    if (Either.isLeft(timeoutMs)) return yield* usage(timeoutMs.left)
    const secrets: Array<{ readonly name: SecretName; readonly value: Redacted.Redacted<string> }> = []
    for (const text of args.secret) {
      const parsed = parseSecret(text, process.env)
      if (Either.isLeft(parsed)) return yield* usage(parsed.left)
      secrets.push(parsed.right)
    }
    const execution: PreparedExecution = {
      agent: "command",
      command: { kind: "shell", shell: "sh", script: args.command.join(" ") },
      cwd: ".",
      timeoutMs: timeoutMs.right,
      logMaxBytes: 1_048_576,
      env: Object.fromEntries(secrets.map((s) => [s.name, { _tag: "Secret" as const, secret: s.name }])),
      egressProxy: true,
      network: { defaultDeny: true, allowHosts: args.allow, allowAddresses: args.allowAddress }
    }
    const required: ReadonlyArray<Dimension> = ["read", "write", "network", "env"]
    // The hash `command.executed` records for a governed run: the prepared shape, no secret value.
    yield* Console.error(`warrant exec: execution ${executionHash(execution)}`)
    const outcome = yield* runSession(
      {
        tier: args.isolation,
        execution,
        workspace: resolve(Option.getOrElse(args.workspace, () => process.cwd())),
        secrets,
        required,
        enforce: dimensions.filter((d) => args.enforce.includes(d))
      },
      (attestation) => Console.error(`warrant exec: ${renderMatrix(attestation)}`)
    ).pipe(
      Effect.provide(Select.layer(localTiers({
        ...(Option.isSome(args.image) ? { containerImage: args.image.value } : {}),
        ...(Option.isSome(args.runtime) ? { containerRuntime: args.runtime.value } : {})
      }))),
      Effect.provide(egressLayer),
      Effect.catchTags({
        CapabilityMismatch: (e) => Console.error(`warrant exec: refused: ${e.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: REFUSED_EXIT })))),
        SandboxUnenforceable: (e) => Console.error(`warrant exec: refused: ${e.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: REFUSED_EXIT })))),
        SessionFailed: (e) => Console.error(`warrant exec: ${e.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: REFUSED_EXIT }))))
      })
    )
    const { result } = outcome
    if (result.log.length > 0) yield* Effect.sync(() => process.stdout.write(result.log.endsWith("\n") ? result.log : `${result.log}\n`))
    for (const d of result.network) {
      yield* Console.error(`warrant exec: network ${d.decision} ${d.host}${d.port === undefined ? "" : `:${d.port}`} (${d.reason}: ${d.detail})`)
    }
    const redacted = Object.entries(result.redactions)
    if (redacted.length > 0) yield* Console.error(`warrant exec: redacted ${redacted.map(([name, n]) => `${name} ×${n}`).join(", ")}`)
    if (result.truncated) yield* Console.error("warrant exec: the output reached the 1 MiB log cap; the command was stopped")
    yield* Console.error(`warrant exec: exit ${result.exitCode}${result.timedOut ? " (timed out)" : ""}`)
    if (result.exitCode !== 0) return yield* Effect.fail(new ExitCode({ code: result.exitCode }))
  })).pipe(Command.withDescription("run one governed session on a local directory: isolation tier, egress policy, secret redaction"))
