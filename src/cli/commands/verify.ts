/**
 * `warrant verify FILE [--trust KEY...] [--trust-plane KEY...] [--trust-runner KEY...] [--json]`: exit 0 valid, 1 invalid (each problem
 * printed), 2 when the file is not JSON or not a bundle. Says plainly when trust was not checked.
 */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Console, Effect } from "effect"
import type { SignerRole } from "../../protocol/Signature.js"
import { bundleShape, type TrustedKey, type Verification, verifyBundle } from "../../receipt/Verify.js"
import { ExitCode } from "../ExitCode.js"
import { resolveTrustedKey } from "../TrustedKeyArg.js"

const file = Args.text({ name: "FILE" }).pipe(Args.withDescription("a receipt bundle (JSON), e.g. .warrant/demo/bundle.json"))
const trust = Options.text("trust").pipe(
  Options.repeated,
  Options.withDescription("a trusted key: keyId, hex public key, or public key file; repeatable. A signature by any other key is a problem")
)
const trustPlane = Options.text("trust-plane").pipe(
  Options.repeated,
  Options.withDescription("a key trusted only to issue contracts and countersign receipts (the plane's); repeatable")
)
const trustRunner = Options.text("trust-runner").pipe(
  Options.repeated,
  Options.withDescription("a key trusted only to sign receipts as a runner; repeatable")
)
const json = Options.boolean("json").pipe(Options.withDescription("print { valid, problems, signers, trustChecked } as JSON"))

const NOT_TRUSTED =
  "trust         NOT CHECKED: no --trust keys were given, so only internal consistency was verified.\n" +
  "              A bundle re-signed end to end with a forger's own keys is internally consistent;\n" +
  "              pass --trust-plane and --trust-runner (or --trust) with their public keys to know who signed it."

export const render = (path: string, result: Verification, runInfo: { runId?: string; status?: string }): string => {
  const lines = [
    `bundle        ${path}`,
    `run           ${runInfo.runId ?? "?"}${runInfo.status === undefined ? "" : ` (${runInfo.status})`}`,
    `contract      signed by ${result.signers.contract ?? "nobody"} (issuer)`,
    `receipt       signed by ${result.signers.receipt ?? "nobody"} (runner)`,
    `countersign   signed by ${result.signers.countersignature ?? "nobody"} (plane)`,
    result.trustChecked ? "trust         every signing key is one of the trusted keys, in a role it is trusted for" + (result.problems.some((p) => p.code === "trust.untrusted-key") ? " — except those listed below" : "") : NOT_TRUSTED,
    result.valid ? "result        VALID" : `result        INVALID: ${result.problems.length} problem${result.problems.length === 1 ? "" : "s"}`,
    ...result.problems.map((p) => `  - ${p.code} at ${p.where}: ${p.message}`)
  ]
  return lines.join("\n")
}

const fail = (code: number, message: string) => Console.error(message).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code }))))

export const verifyCommand = Command.make("verify", { file, trust, trustPlane, trustRunner, json }, (args) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(args.file).pipe(Effect.catchAll((e) => fail(2, `warrant verify: cannot read ${args.file}: ${e.message}`)))
    let input: unknown
    try {
      input = JSON.parse(text)
    } catch (e) {
      return yield* fail(2, `warrant verify: ${args.file} is not JSON (${(e as Error).message})`)
    }
    const shape = bundleShape(input)
    if (shape === "unsupported-version") {
      return yield* fail(2, `warrant verify: ${args.file} is a bundle of a version this build cannot read (${String((input as { version?: unknown }).version)}); upgrade warrant`)
    }
    if (shape === "not-a-bundle") {
      return yield* fail(2, `warrant verify: ${args.file} is not a receipt bundle (expected { version: "warrant.bundle.v1", contract, events, receipt, keys })`)
    }
    const given: ReadonlyArray<readonly [string, ReadonlyArray<SignerRole> | undefined]> = [
      ...args.trust.map((k) => [k, undefined] as const),
      ...args.trustPlane.map((k) => [k, ["issuer", "plane"]] as const),
      ...args.trustRunner.map((k) => [k, ["runner"]] as const)
    ]
    const trustedKeys = given.length === 0
      ? undefined
      : yield* Effect.forEach(given, ([argument, roles]) =>
        Effect.map(resolveTrustedKey(argument), (key): TrustedKey => (roles === undefined ? key : { ...key, roles }))
      ).pipe(Effect.catchTag("TrustedKeyUnreadable", (e) => fail(2, `warrant verify: ${e.message}`)))
    const result = verifyBundle(input, trustedKeys === undefined ? {} : { trustedKeys })
    const receipt = (input as { receipt?: { runId?: unknown; status?: unknown } }).receipt
    if (args.json) {
      yield* Console.log(JSON.stringify({ valid: result.valid, problems: result.problems, signers: result.signers, trustChecked: result.trustChecked }, null, 2))
    } else {
      yield* Console.log(render(args.file, result, {
        ...(typeof receipt?.runId === "string" ? { runId: receipt.runId } : {}),
        ...(typeof receipt?.status === "string" ? { status: receipt.status } : {})
      }))
    }
    if (!result.valid) return yield* Effect.fail(new ExitCode({ code: 1 }))
  })).pipe(Command.withDescription("verify a receipt bundle offline: signatures, contract hash, event chain, Merkle root and summaries"))
