/**
 * The plane API's handlers: each endpoint of `Api` bound to the service that does the work.
 * Store failures are infrastructure the caller cannot act on; they become defects here and a
 * structured 500 at the edge.
 */
import { HttpApiBuilder, HttpServerRequest } from "@effect/platform"
import { Duration, Effect, Layer, Option, Schema } from "effect"
import { policyHash } from "../protocol/Digest.js"
import { Receipt } from "../protocol/Receipt.js"
import { requireRole } from "./Access.js"
import { Api } from "./Api.js"
import { NotReady } from "./ApiErrors.js"
import { addressOf, guarded, rateLimited } from "./AuthenticationLive.js"
import { Blobs } from "./Blobs.js"
import { Caller } from "./Caller.js"
import { Identity } from "./Identity.js"
import { PlaneConfig } from "./PlaneConfig.js"
import { RateLimiter } from "./RateLimiter.js"
import { RunnerProtocol } from "./RunnerProtocol.js"
import { Runs } from "./Runs.js"
import { receiptOf, runnerView, runView, secretView } from "./RunViews.js"
import { SecretsBroker } from "./SecretsBroker.js"
import { PlaneStore, StoreError } from "./Store.js"

const infra = <A, E, R>(effect: Effect.Effect<A, E | StoreError, R>): Effect.Effect<A, Exclude<E, StoreError>, R> =>
  Effect.catchIf(effect, (e): e is StoreError => e instanceof StoreError, (e) => Effect.die(e)) as Effect.Effect<A, Exclude<E, StoreError>, R>

const encodeReceipt = Schema.encodeSync(Receipt)

export const SystemLive = HttpApiBuilder.group(Api, "system", (handlers) =>
  Effect.gen(function*() {
    const store = yield* PlaneStore
    return handlers
      .handle("health", () => Effect.succeed({ status: "ok" as const }))
      .handle("ready", () =>
        store.getMeta("admin-bootstrapped").pipe(
          Effect.map((bootstrapped) => ({ ready: true as const, checks: [{ name: "store", ok: true }, { name: "admin", ok: Option.isSome(bootstrapped) }] })),
          Effect.catchTag("StoreError", () => Effect.fail(new NotReady({ message: "the plane's store is not answering", details: { checks: [{ name: "store", ok: false }] } })))
        ))
  }))

export const EnrollLive = HttpApiBuilder.group(Api, "enroll", (handlers) =>
  Effect.gen(function*() {
    const identity = yield* Identity
    const limiter = yield* RateLimiter
    return handlers.handle("enroll", ({ payload }) =>
      Effect.gen(function*() {
        const address = addressOf(yield* HttpServerRequest.HttpServerRequest)
        const wait = yield* limiter.take(`enroll:${address}`)
        if (wait !== undefined) return yield* rateLimited(`enrollments from ${address}`, wait)
        return yield* guarded(infra(identity.enroll(payload)))
      }).pipe(Effect.provideService(RateLimiter, limiter)))
  }))

export const AdminLive = HttpApiBuilder.group(Api, "admin", (handlers) =>
  Effect.gen(function*() {
    const identity = yield* Identity
    const broker = yield* SecretsBroker
    const store = yield* PlaneStore
    const { policy } = yield* PlaneConfig
    const admin = (what: string) => Effect.flatMap(Caller, (caller) => requireRole(caller, ["admin"], what))
    return handlers
      .handle("createPrincipal", ({ payload }) => admin("create principals").pipe(Effect.zipRight(infra(identity.createPrincipal(payload)))))
      .handle("listPrincipals", () => admin("list principals").pipe(Effect.zipRight(infra(identity.listPrincipals))))
      .handle("createEnrollToken", ({ payload }) =>
        Effect.gen(function*() {
          const caller = yield* admin("mint enroll tokens")
          const minted = yield* infra(identity.mintEnrollToken(payload.pool, Duration.seconds(payload.ttlSeconds ?? 900), caller.principal.id))
          return { token: minted.token, pool: payload.pool, expiresAt: minted.expiresAt }
        }))
      .handle("listRunners", () => admin("list runners").pipe(Effect.zipRight(infra(store.listRunners)), Effect.map((rows) => rows.map(runnerView))))
      .handle("putSecret", ({ path, payload }) =>
        admin("store secrets").pipe(Effect.zipRight(infra(broker.put(path.name, payload.value))), Effect.map((at) => secretView({ name: path.name, updated_at: at }))))
      .handle("listSecrets", () => admin("list secrets").pipe(Effect.zipRight(infra(broker.list)), Effect.map((rows) => rows.map(secretView))))
      .handle("deleteSecret", ({ path }) => admin("delete secrets").pipe(Effect.zipRight(infra(broker.remove(path.name))), Effect.asVoid))
      .handle("policy", () =>
        Effect.flatMap(Caller, (caller) => requireRole(caller, ["admin", "approver", "requester"], "read the policy")).pipe(
          Effect.as({ policy, policyHash: policyHash(policy) })
        ))
      .handle("export", ({ urlParams }) =>
        Effect.gen(function*() {
          yield* admin("export runs")
          const rows = yield* infra(store.runsUpdatedSince(urlParams.since ?? "0000"))
          return rows
            .map((row) => JSON.stringify({ type: "run", run: runView(row), ...Option.match(receiptOf(row), { onNone: () => ({}), onSome: (r) => ({ receipt: encodeReceipt(r) }) }) }) + "\n")
            .join("")
        }))
  }))

export const RunsLive = HttpApiBuilder.group(Api, "runs", (handlers) =>
  Effect.gen(function*() {
    const runs = yield* Runs
    const withCaller = <A, E, R>(f: (caller: Caller["Type"]) => Effect.Effect<A, E | StoreError, R>) => Effect.flatMap(Caller, (caller) => infra(f(caller)))
    return handlers
      .handle("create", ({ payload }) => withCaller((caller) => runs.create(caller, payload)))
      .handle("list", ({ urlParams }) => withCaller((caller) => runs.list(caller, urlParams)))
      .handle("get", ({ path }) => withCaller((caller) => runs.get(caller, path.runId)))
      .handle("events", ({ path }) => withCaller((caller) => runs.events(caller, path.runId)))
      .handle("bundle", ({ path }) => withCaller((caller) => runs.bundle(caller, path.runId)))
      .handle("approve", ({ path }) => withCaller((caller) => runs.approve(caller, path.runId)))
      .handle("cancel", ({ path, payload }) => withCaller((caller) => runs.cancel(caller, path.runId, payload.reason)))
  }))

export const RunnerLive = HttpApiBuilder.group(Api, "runner", (handlers) =>
  Effect.gen(function*() {
    const protocol = yield* RunnerProtocol
    const withCaller = <A, E, R>(f: (caller: Caller["Type"]) => Effect.Effect<A, E | StoreError, R>) => Effect.flatMap(Caller, (caller) => infra(f(caller)))
    return handlers
      .handle("claim", () => withCaller((caller) => protocol.claim(caller)))
      .handle("heartbeat", ({ path }) => withCaller((caller) => protocol.heartbeat(caller, path.runId)))
      .handle("postEvents", ({ path, payload }) => withCaller((caller) => protocol.postEvents(caller, path.runId, payload.entries)))
      .handle("complete", ({ path, payload }) => withCaller((caller) => protocol.complete(caller, path.runId, payload.receipt)))
  }))

export const BlobsLive = HttpApiBuilder.group(Api, "blobs", (handlers) =>
  Effect.gen(function*() {
    const blobs = yield* Blobs
    return handlers
      .handle("put", ({ path, payload }) => Effect.flatMap(Caller, (caller) => infra(blobs.put(caller, path.hash, payload))))
      .handle("get", ({ path }) => Effect.flatMap(Caller, (caller) => infra(blobs.get(caller, path.hash))))
  }))

export const layer = Layer.mergeAll(SystemLive, EnrollLive, AdminLive, RunsLive, RunnerLive, BlobsLive)
