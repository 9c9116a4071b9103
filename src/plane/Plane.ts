/**
 * `Plane`: the whole plane as layers. `make` assembles services, store, signer and the HTTP
 * server from explicit options; `layer` reads them from Config, so starting a plane in an Effect
 * app is `Layer.launch(Plane.layer)`.
 */
import { HttpApiBuilder, HttpServer } from "@effect/platform"
import { NodeContext, NodeHttpServer } from "@effect/platform-node"
import { Config, Effect, Layer, Option } from "effect"
import { createServer } from "node:http"
import { join, resolve } from "node:path"
import * as KeyRing from "../crypto/KeyRing.js"
import * as DataDir from "./DataDir.js"
import { defaultPolicy } from "./DefaultPolicy.js"
import * as Store from "./Store.js"
import * as ContractSigning from "../crypto/ContractSigning.js"
import { Signer } from "../crypto/Signer.js"
import { Api } from "./Api.js"
import * as AuthenticationLive from "./AuthenticationLive.js"
import * as Blobs from "./Blobs.js"
import * as ErrorBody from "./ErrorBody.js"
import * as Http from "./Http.js"
import * as Identity from "./Identity.js"
import * as Leases from "./Leases.js"
import { limitsFromEnv, make as makeSettings, PlaneConfig, type PlaneSettings } from "./PlaneConfig.js"
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
    Layer.provideMerge(NodeHttpServer.layer(() => ErrorBody.structuredClientErrors(createServer()), options.listen))
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

/**
 * The plane from Config (environment variables by default): WARRANT_DATA_DIR (default
 * .warrant/plane), WARRANT_HOST (127.0.0.1), WARRANT_PORT (7070), WARRANT_MASTER_KEY (base64;
 * else a 0600 key file in the data directory), WARRANT_POLICY_FILE (else the strict default
 * policy), WARRANT_LEASE_SECONDS and the other limits of `limitsFromEnv`.
 */
export const layer = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* Config.all({
    dataDir: Config.string("WARRANT_DATA_DIR").pipe(Config.withDefault(".warrant/plane")),
    host: Config.string("WARRANT_HOST").pipe(Config.withDefault("127.0.0.1")),
    port: Config.integer("WARRANT_PORT").pipe(Config.validate({ message: "WARRANT_PORT must be 0..65535 (0 picks a free port)", validation: (n) => n >= 0 && n <= 65_535 }), Config.withDefault(7070)),
    masterKey: Config.option(Config.redacted("WARRANT_MASTER_KEY")),
    policyFile: Config.option(Config.string("WARRANT_POLICY_FILE"))
  })
  const limits = yield* limitsFromEnv
  const dir = resolve(config.dataDir)
  yield* DataDir.ensure(dir)
  const masterKey = yield* DataDir.masterKey(dir, config.masterKey)
  const policy = Option.isSome(config.policyFile) ? yield* DataDir.policyFromFile(config.policyFile.value) : defaultPolicy
  const signer = yield* Effect.flatMap(KeyRing.KeyRing, (ring) => ring.signer("plane")).pipe(
    Effect.provide(KeyRing.layer(join(dir, "keys"))),
    Effect.provide(NodeContext.layer)
  )
  const plane = make({
    settings: makeSettings({ policy, masterKey }, limits),
    store: Store.layerSqlite(join(dir, "plane.db")),
    signer: Layer.succeed(Signer, signer),
    listen: { host: config.host, port: config.port },
    onAdminCreated: DataDir.announceAdmin(dir)
  })
  const announce = Layer.effectDiscard(Effect.flatMap(PlaneInfo, (info) =>
    Effect.log(`warrant plane listening on ${info.url} (data in ${dir}, plane key ${info.planeKey.keyId})`)))
  return Layer.provideMerge(announce, plane)
}))
