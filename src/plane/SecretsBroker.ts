/**
 * The SecretsBroker service: the organisation's secrets, sealed at rest under the master key,
 * opened only to release one to a claimed run. Values never leave this service except as the
 * `Redacted` a claim response carries.
 */
import { Clock, Context, Data, Effect, Either, Layer, Option, Redacted } from "effect"
import { type SecretName, type Timestamp, timestampOf } from "../protocol/Ids.js"
import { PlaneConfig } from "./PlaneConfig.js"
import * as Seal from "./Seal.js"
import { PlaneStore, type StoreError } from "./Store.js"

export class SecretReleaseDenied extends Data.TaggedError("SecretReleaseDenied")<{ readonly name: string; readonly reason: string }> {
  override get message() {
    return `secret ${this.name} cannot be released: ${this.reason}`
  }
}

export interface SecretsBrokerShape {
  readonly put: (name: SecretName, value: Redacted.Redacted<string>) => Effect.Effect<Timestamp, StoreError>
  readonly list: Effect.Effect<ReadonlyArray<{ readonly name: string; readonly updated_at: string }>, StoreError>
  readonly remove: (name: SecretName) => Effect.Effect<boolean, StoreError>
  readonly release: (name: SecretName) => Effect.Effect<Redacted.Redacted<string>, SecretReleaseDenied | StoreError>
}

export class SecretsBroker extends Context.Tag("warrant/plane/SecretsBroker")<SecretsBroker, SecretsBrokerShape>() {}

const reasons: Record<Seal.OpenFailure, string> = {
  "malformed": "its sealed form is damaged",
  "wrong-key": "it was sealed under a different master key than this plane holds; start the plane with the key it was stored under",
  "tampered": "its sealed form failed authentication (altered, or moved from another name)"
}

export const make = Effect.gen(function*() {
  const store = yield* PlaneStore
  const { masterKey } = yield* PlaneConfig
  const key = Redacted.value(masterKey)
  if (key.byteLength !== Seal.KEY_BYTES) return yield* Effect.dieMessage(`the secrets master key must be ${Seal.KEY_BYTES} bytes, got ${key.byteLength}`)

  return SecretsBroker.of({
    put: Effect.fn("SecretsBroker.put")(function*(name, value) {
      const at = timestampOf(yield* Clock.currentTimeMillis)
      yield* store.putSecret(name, Seal.seal(key, name, Redacted.value(value)), at)
      return at
    }),
    list: store.listSecrets,
    remove: store.deleteSecret,
    release: Effect.fn("SecretsBroker.release")(function*(name) {
      const sealed = yield* store.getSecret(name)
      if (Option.isNone(sealed)) return yield* new SecretReleaseDenied({ name, reason: "no secret of that name is stored; an admin can add it with PUT /secrets/" + name })
      const opened = Seal.open(key, name, sealed.value)
      return Either.isRight(opened) ? Redacted.make(opened.right) : yield* new SecretReleaseDenied({ name, reason: reasons[opened.left] })
    })
  })
})

export const layer = Layer.effect(SecretsBroker, make)
