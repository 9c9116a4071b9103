/**
 * The Blobs service: content-addressed storage where knowing a hash is not access. An upload is
 * checked against its hash and recorded as its uploader's (a principal, or the run whose claim
 * token sent it); a read needs the uploader, a run that references the blob and that the caller
 * may see, or that run's live claim token.
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import { sha256, type Sha256 } from "../protocol/Hash.js"
import { timestampOf } from "../protocol/Ids.js"
import { BlobRejected, type Forbidden, NotFound } from "./ApiErrors.js"
import { canSee, requireRole } from "./Access.js"
import type { CallerShape } from "./Caller.js"
import { PlaneStore, type StoreError } from "./Store.js"

export interface BlobsShape {
  readonly put: (caller: CallerShape, hash: Sha256, data: Uint8Array) => Effect.Effect<{ readonly hash: Sha256; readonly size: number; readonly created: boolean }, Forbidden | BlobRejected | StoreError>
  readonly get: (caller: CallerShape, hash: Sha256) => Effect.Effect<Uint8Array, NotFound | StoreError>
}

export class Blobs extends Context.Tag("warrant/plane/Blobs")<Blobs, BlobsShape>() {}

const holderOf = (caller: CallerShape): Option.Option<string> =>
  caller.kind === "principal" ? Option.some(`principal:${caller.principal.id}`) : caller.kind === "claim" ? Option.some(`run:${caller.runId}`) : Option.none()

export const make = Effect.gen(function*() {
  const store = yield* PlaneStore

  const mayRead = (caller: CallerShape, holders: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      if (caller.kind === "principal" && caller.role === "admin") return true
      const own = holderOf(caller)
      if (Option.isSome(own) && holders.includes(own.value)) return true
      if (caller.kind !== "principal") return false
      for (const holder of holders) {
        if (!holder.startsWith("run:")) continue
        const run = yield* store.getRun(holder.slice(4))
        if (Option.isSome(run) && canSee(caller, run.value)) return true
      }
      return false
    })

  return Blobs.of({
    put: Effect.fn("Blobs.put")(function*(caller, hash, data) {
      if (caller.kind !== "claim") yield* requireRole(caller, ["requester", "admin"], "upload blobs")
      const actual = sha256(data)
      if (actual !== hash) {
        return yield* new BlobRejected({ message: `the body hashes to ${actual}, not ${hash}; a blob is stored only under its own hash`, details: { hashes: [hash] } })
      }
      const created = yield* store.putBlob(hash, data, timestampOf(yield* Clock.currentTimeMillis))
      yield* store.grantBlob(hash, Option.getOrThrow(holderOf(caller)))
      return { hash, size: data.byteLength, created }
    }),
    get: Effect.fn("Blobs.get")(function*(caller, hash) {
      // Absent and not yours look the same, so a hash cannot be probed for existence.
      const absent = new NotFound({ message: `no blob ${hash} that you may read`, details: { resource: "blob", id: hash } })
      if (!(yield* mayRead(caller, yield* store.blobHolders(hash)))) return yield* absent
      return yield* Effect.flatMap(store.getBlob(hash), Option.match({ onNone: () => Effect.fail(absent), onSome: Effect.succeed }))
    })
  })
})

export const layer = Layer.effect(Blobs, make)
