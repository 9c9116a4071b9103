/**
 * Resolving a `--trust` argument: a keyId, a bare hex public key, or a public key file.
 */
import { FileSystem } from "@effect/platform"
import { Data, Effect, Either, Schema } from "effect"
import { parsePublicKey } from "../crypto/KeyFile.js"
import { KeyId } from "../protocol/Ids.js"
import type { TrustedKey } from "../receipt/Verify.js"

export class TrustedKeyUnreadable extends Data.TaggedError("TrustedKeyUnreadable")<{ readonly argument: string; readonly reason: string }> {
  override get message() {
    return `--trust ${this.argument}: ${this.reason}; pass a keyId (ed25519:<64 hex>), a 64-hex public key, or a public key file (*.pub.json)`
  }
}

const isKeyId = Schema.is(KeyId)

export const resolveTrustedKey = (argument: string) =>
  Effect.gen(function*() {
    if (isKeyId(argument)) return { keyId: argument } satisfies TrustedKey
    const inline = parsePublicKey(argument)
    if (Either.isRight(inline)) return { keyId: inline.right.keyId, publicKey: inline.right.publicKey } satisfies TrustedKey
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(argument).pipe(
      Effect.mapError((e) => new TrustedKeyUnreadable({ argument, reason: e._tag === "SystemError" && e.reason === "NotFound" ? "no such file" : e.message }))
    )
    const parsed = parsePublicKey(text)
    if (Either.isLeft(parsed)) return yield* new TrustedKeyUnreadable({ argument, reason: `not a public key file (${parsed.left})` })
    return { keyId: parsed.right.keyId, publicKey: parsed.right.publicKey } satisfies TrustedKey
  })
