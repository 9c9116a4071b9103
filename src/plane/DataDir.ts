/**
 * The plane's data directory (mode 0700): the SQLite file, the plane's keys, the secrets master
 * key when none is configured, and the admin token written once on the store's first start.
 * Files holding secrets are 0600 and refused when others can read them.
 */
import { Console, Data, Effect, Either, Option, Redacted } from "effect"
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises"
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { decodePolicy, type Policy } from "../protocol/Policy.js"
import { KEY_BYTES } from "./Seal.js"

export class DataDirError extends Data.TaggedError("DataDirError")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `plane data at ${this.path}: ${this.reason}`
  }
}

const attempt = <A>(path: string, what: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (e) => new DataDirError({ path, reason: `${what}: ${e instanceof Error ? e.message : String(e)}` }) })

export const ensure = (dir: string) =>
  attempt(dir, "cannot create the directory", async () => {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await chmod(dir, 0o700)
  })

/** A 32-byte key from base64 (configured), else from `<dir>/master.key`, created on first use. */
export const masterKey = (dir: string, configured: Option.Option<Redacted.Redacted<string>>) =>
  Effect.gen(function*() {
    if (Option.isSome(configured)) {
      const bytes = Buffer.from(Redacted.value(configured.value), "base64")
      if (bytes.byteLength !== KEY_BYTES) {
        return yield* new DataDirError({ path: "WARRANT_MASTER_KEY", reason: `must be ${KEY_BYTES} bytes in base64 (e.g. openssl rand -base64 32); got ${bytes.byteLength} bytes` })
      }
      return Redacted.make(new Uint8Array(bytes))
    }
    const file = join(dir, "master.key")
    const existing = yield* attempt(file, "cannot read", () => stat(file).then(() => true, () => false))
    if (!existing) {
      yield* attempt(file, "cannot create", () => writeFile(file, randomBytes(KEY_BYTES).toString("base64") + "\n", { mode: 0o600, flag: "wx" }))
      yield* Effect.logWarning(`created the secrets master key at ${file}, beside the database; for production set WARRANT_MASTER_KEY from your secret manager instead`)
    }
    const info = yield* attempt(file, "cannot stat", () => stat(file))
    if ((info.mode & 0o077) !== 0) return yield* new DataDirError({ path: file, reason: `readable by others (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 ${file}` })
    const bytes = Buffer.from((yield* attempt(file, "cannot read", () => readFile(file, "utf8"))).trim(), "base64")
    if (bytes.byteLength !== KEY_BYTES) return yield* new DataDirError({ path: file, reason: `does not hold ${KEY_BYTES} bytes of base64` })
    return Redacted.make(new Uint8Array(bytes))
  })

export const policyFromFile = (file: string): Effect.Effect<Policy, DataDirError> =>
  Effect.gen(function*() {
    const text = yield* attempt(file, "cannot read the policy file", () => readFile(file, "utf8"))
    const json = yield* Effect.try({ try: () => JSON.parse(text) as unknown, catch: () => new DataDirError({ path: file, reason: "the policy file is not JSON" }) })
    const decoded = decodePolicy(json)
    return Either.isRight(decoded) ? decoded.right : yield* new DataDirError({ path: file, reason: decoded.left.message })
  })

/** Writes the first admin token (0600) and prints it once; a later start never shows it again. */
export const announceAdmin = (dir: string) => (token: Option.Option<Redacted.Redacted<string>>) =>
  Option.match(token, {
    onNone: () => Effect.void,
    onSome: (value) => {
      const file = join(dir, "admin.token")
      // Printed first: if the file cannot be written, the one chance to see the token is not lost.
      return Console.log(`admin token (shown once; also in ${file}, mode 0600):\n  ${Redacted.value(value)}`).pipe(
        Effect.zipRight(attempt(file, "cannot write", () => writeFile(file, Redacted.value(value) + "\n", { mode: 0o600 }).then(() => chmod(file, 0o600)))),
        Effect.orDie
      )
    }
  })
