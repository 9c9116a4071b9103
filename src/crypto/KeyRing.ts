/**
 * The KeyRing service: named ed25519 keys persisted in one directory (mode 0700), each
 * as a private file (0600) and a public file. Loading refuses a private key that other
 * users could read, as ssh does.
 */
import { FileSystem, Path } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Context, Data, Effect, Either, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { generateKey } from "./Ed25519.js"
import { type KeyPair, keyPairOf, parsePrivateKeyFile, renderPrivateKeyFile, renderPublicKeyFile } from "./KeyFile.js"
import * as Signer from "./Signer.js"

export class KeyNotFound extends Data.TaggedError("KeyNotFound")<{ readonly name: string; readonly path: string }> {
  override get message() {
    return `no key named ${JSON.stringify(this.name)} at ${this.path}; generate one first`
  }
}
export class KeyExists extends Data.TaggedError("KeyExists")<{ readonly name: string; readonly path: string }> {
  override get message() {
    return `a key named ${JSON.stringify(this.name)} already exists at ${this.path}; refusing to overwrite it`
  }
}
export class KeyFileInvalid extends Data.TaggedError("KeyFileInvalid")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `key file ${this.path} is invalid: ${this.reason}`
  }
}
export class KeyFileInsecure extends Data.TaggedError("KeyFileInsecure")<{ readonly path: string; readonly mode: number }> {
  override get message() {
    return `private key ${this.path} has mode ${(this.mode & 0o777).toString(8).padStart(4, "0")}, readable by others; run: chmod 600 ${this.path}`
  }
}
export class KeyStoreError extends Data.TaggedError("KeyStoreError")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `key store failure at ${this.path}: ${this.reason}`
  }
}

export type LoadError = KeyNotFound | KeyFileInvalid | KeyFileInsecure | KeyStoreError

export interface KeyRingShape {
  readonly directory: string
  readonly privatePath: (name: string) => string
  readonly publicPath: (name: string) => string
  readonly generate: (name: string) => Effect.Effect<KeyPair, KeyExists | KeyFileInvalid | KeyStoreError>
  readonly load: (name: string) => Effect.Effect<KeyPair, LoadError>
  /** Loads the key, or creates it when absent; safe when two processes race to create it. */
  readonly loadOrGenerate: (name: string) => Effect.Effect<KeyPair, Exclude<LoadError, KeyNotFound>>
  readonly signer: (name: string) => Effect.Effect<Signer.SignerShape, Exclude<LoadError, KeyNotFound>>
}

export class KeyRing extends Context.Tag("warrant/crypto/KeyRing")<KeyRing, KeyRingShape>() {}

const validName = /^[a-z0-9][a-z0-9._-]{0,63}$/

export const make = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = path.resolve(directory)
    const privatePath = (name: string) => path.join(dir, `${name}.key.json`)
    const publicPath = (name: string) => path.join(dir, `${name}.pub.json`)
    const storeError = (at: string) => (e: PlatformError) => new KeyStoreError({ path: at, reason: e.message })

    const checkName = (name: string) =>
      validName.test(name)
        ? Effect.void
        : Effect.fail(new KeyFileInvalid({ path: privatePath(name), reason: "key names are 1-64 characters of a-z 0-9 . _ - starting with a letter or digit" }))

    const ensureDirectory = fs.makeDirectory(dir, { recursive: true, mode: 0o700 }).pipe(
      Effect.zipRight(fs.chmod(dir, 0o700)),
      Effect.mapError(storeError(dir))
    )

    const load = Effect.fn("KeyRing.load")(function*(name: string) {
      yield* checkName(name)
      const file = privatePath(name)
      const info = yield* fs.stat(file).pipe(
        Effect.catchIf(
          (e) => e._tag === "SystemError" && e.reason === "NotFound",
          () => Effect.fail(new KeyNotFound({ name, path: file }))
        ),
        Effect.mapError((e) => e._tag === "KeyNotFound" ? e : storeError(file)(e))
      )
      if (info.type !== "File") return yield* new KeyFileInvalid({ path: file, reason: "not a regular file" })
      if ((info.mode & 0o077) !== 0) return yield* new KeyFileInsecure({ path: file, mode: info.mode })
      const text = yield* fs.readFileString(file).pipe(Effect.mapError(storeError(file)))
      const parsed = parsePrivateKeyFile(text)
      return Either.isRight(parsed) ? parsed.right : yield* new KeyFileInvalid({ path: file, reason: parsed.left })
    })

    // Written to a private temp file and hard-linked into place: the key appears whole
    // or not at all, and an existing key is never replaced.
    const generate = Effect.fn("KeyRing.generate")(function*(name: string) {
      yield* checkName(name)
      yield* ensureDirectory
      const pair = keyPairOf(generateKey().secretKey)
      const file = privatePath(name)
      const temp = `${file}.${randomUUID()}.tmp`
      // The temp file is removed whatever happens, a failed or interrupted write included.
      const linked = yield* fs.writeFileString(temp, renderPrivateKeyFile(pair), { flag: "wx", mode: 0o600 }).pipe(
        Effect.mapError(storeError(temp)),
        Effect.zipRight(fs.link(temp, file).pipe(
          Effect.as(true),
          Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "AlreadyExists", () => Effect.succeed(false)),
          Effect.mapError(storeError(file))
        )),
        Effect.ensuring(fs.remove(temp).pipe(Effect.ignore))
      )
      if (!linked) return yield* new KeyExists({ name, path: file })
      yield* fs.writeFileString(publicPath(name), renderPublicKeyFile(pair.record), { mode: 0o644 }).pipe(
        Effect.mapError(storeError(publicPath(name)))
      )
      return pair
    })

    const loadOrGenerate = (name: string) =>
      load(name).pipe(
        Effect.catchTag("KeyNotFound", () =>
          generate(name).pipe(Effect.catchTag("KeyExists", () => load(name).pipe(
            Effect.catchTag("KeyNotFound", (e) => Effect.fail(new KeyStoreError({ path: e.path, reason: "key vanished while being created" })))
          )))
        )
      )

    return KeyRing.of({
      directory: dir,
      privatePath,
      publicPath,
      generate,
      load,
      loadOrGenerate,
      signer: (name) => Effect.map(loadOrGenerate(name), (pair) => Signer.make(pair.secretKey))
    })
  })

export const layer = (directory: string): Layer.Layer<KeyRing, never, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(KeyRing, make(directory))

/** A Signer layer backed by a named key in a KeyRing directory, created on first use. */
export const signerLayer = (name: string) => Layer.effect(Signer.Signer, Effect.flatMap(KeyRing, (ring) => ring.signer(name)))
