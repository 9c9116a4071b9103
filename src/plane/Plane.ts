/**
 * `Plane`: the whole plane as layers. `make` assembles services, store, signer and the HTTP
 * server from explicit options; `layer` reads them from Config, so starting a plane in an Effect
 * app is `Layer.launch(Plane.layer)`.
 */
import { HttpApiBuilder, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import * as ContractSigning from "../crypto/ContractSigning.js"
import { Signer } from "../crypto/Signer.js"
import { Api } from "./Api.js"
import * as AuthenticationLive from "./AuthenticationLive.js"
import * as Blobs from "./Blobs.js"
import * as ErrorBody from "./ErrorBody.js"
import * as Http from "./Http.js"
import * as Identity from "./Identity.js"
import * as Leases from "./Leases.js"
import { PlaneConfig, type PlaneSettings } from "./PlaneConfig.js"
import { PlaneInfo } from "./PlaneInfo.js"
import * as RateLimiter from "./RateLimiter.js"
import * as RunnerProtocol from "./RunnerProtocol.js"
import * as Runs from "./Runs.js"
import * as SecretsBroker from "./SecretsBroker.js"
import type { PlaneStore } from "./Store.js"

export interface PlaneOptions {
  readonly settings: PlaneSettings
  readonly store: Layer.Layer<PlaneStore>
  readonly signer: Layer.Layer<Signer>
  readonly listen: { readonly host: string; readonly port: number }
  /** Called once with the admin token when this start created the store (e.g. to write admin.token). */
  readonly onAdminCreated?: (token: PlaneInfo["Type"]["adminToken"]) => Effect.Effect<void>
}

/** The plane's services, without HTTP: what the handlers (and an embedding app) call. */
export const services = (options: Pick<PlaneOptions, "settings" | "store" | "signer">) => {
  const base = Layer.mergeAll(Layer.succeed(PlaneConfig, options.settings), options.store, options.signer)
  const first = Layer.mergeAll(ContractSigning.layer(), SecretsBroker.layer, Identity.layer, RateLimiter.layer, Blobs.layer)
  return Layer.mergeAll(RunnerProtocol.layer, Leases.layer, AuthenticationLive.layer).pipe(
    Layer.provideMerge(Runs.layer),
    Layer.provideMerge(first),
    Layer.provideMerge(base)
  )
}

const ApiLive = HttpApiBuilder.api(Api).pipe(Layer.provide(Http.layer))

/** The plane: services, the HTTP API on `listen` (with /openapi.json), the lease sweeper; outputs PlaneInfo and the services. */
export const make = (options: PlaneOptions) => {
  const server = HttpApiBuilder.serve().pipe(
    Layer.provide(ErrorBody.layer(options.settings)),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(ApiLive),
    HttpServer.withLogAddress,
    Layer.provideMerge(NodeHttpServer.layer(() => createServer(), options.listen))
  )
  const info = Layer.effect(
    PlaneInfo,
    Effect.gen(function*() {
      const address = (yield* HttpServer.HttpServer).address
      const signer = yield* Signer
      const adminToken = yield* Effect.flatMap(Identity.Identity, (identity) => identity.bootstrapAdmin).pipe(Effect.orDie)
      if (adminToken._tag === "Some" && options.onAdminCreated !== undefined) yield* options.onAdminCreated(adminToken)
      const url = address._tag === "TcpAddress" ? `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}` : `unix:${address.path}`
      return { url, planeKey: signer.record, adminToken }
    })
  )
  // The services stay in the output, so an embedding app (or a test) can call them directly.
  return info.pipe(Layer.provide(server), Layer.provideMerge(services(options)), Layer.orDie)
}
