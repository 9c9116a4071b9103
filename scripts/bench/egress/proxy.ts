/**
 * The proxy under benchmark, in its own process so it has its own event loop: starts one
 * EgressProxy for the policy given as JSON in argv, reports its port over IPC, and stops
 * when the parent disconnects.
 */
import { Deferred, Effect, Stream } from "effect"
import { EgressProxy, layerSystem } from "../../../src/egress/EgressProxy.js"
import type { NetworkPolicy } from "../../../src/protocol/Network.js"

const policy = JSON.parse(process.argv[2] ?? "{}") as NetworkPolicy

const main = Effect.gen(function*() {
  const proxy = yield* (yield* EgressProxy).start(policy, { maxTunnels: 1024 })
  // Decisions are drained so the mailbox stays small, as a runner would.
  yield* Effect.forkScoped(Stream.runDrain(proxy.decisions))
  const stop = yield* Deferred.make<void>()
  process.once("disconnect", () => Deferred.unsafeDone(stop, Effect.void))
  process.send?.({ port: proxy.port })
  yield* Deferred.await(stop)
})

void Effect.runPromise(Effect.scoped(main).pipe(Effect.provide(layerSystem))).then(() => process.exit(0))
