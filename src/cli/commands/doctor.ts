/**
 * `warrant doctor [--image IMAGE] [--runtime docker|podman] [--json]`: for every isolation
 * tier, whether it is ready on this host and if not why, and which dimensions it enforces or
 * only attests. Exits 0 whatever it finds: it reports, a session refuses.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import type { Capability, Readiness, SessionBackend } from "../../backends/SessionBackend.js"
import { layerSystem as egressLayer } from "../../egress/EgressProxy.js"
import { dimensions } from "../../protocol/Ids.js"
import { localTiers } from "../Tiers.js"

const image = Options.text("image").pipe(Options.withDescription("the container tier's image (default: $WARRANT_CONTAINER_IMAGE)"), Options.optional)
const runtime = Options.choice("runtime", ["docker", "podman"]).pipe(Options.withDescription("the container runtime (default: docker if on PATH, else podman)"), Options.optional)
const json = Options.boolean("json").pipe(Options.withDescription("one JSON object per tier instead of text"))

export const describeCapability = (capability: Capability): string => {
  const enforced = dimensions.filter((d) => capability[d] === "enforced")
  const attested = dimensions.filter((d) => capability[d] === "attested")
  const none = dimensions.filter((d) => capability[d] === "none")
  return [
    enforced.length > 0 ? `enforces ${enforced.join(", ")}` : undefined,
    attested.length > 0 ? `attests ${attested.join(", ")}` : undefined,
    none.length > 0 ? `covers nothing of ${none.join(", ")}` : undefined
  ].filter((part) => part !== undefined).join("; ")
}

export const renderTier = (backend: SessionBackend, readiness: Readiness): string => {
  const head = `${backend.tier.padEnd(15)} ${readiness.ready ? "ready    " : "not ready"}  ${describeCapability(backend.capability)}`
  return readiness.ready ? head : [head, ...readiness.reasons.map((reason) => `${" ".repeat(27)}- ${reason}`)].join("\n")
}

export const doctorCommand = Command.make("doctor", { image, runtime, json }, (args) =>
  Effect.gen(function*() {
    const backends = yield* Effect.all(localTiers({
      ...(Option.isSome(args.image) ? { containerImage: args.image.value } : {}),
      ...(Option.isSome(args.runtime) ? { containerRuntime: args.runtime.value } : {})
    }))
    const probed = yield* Effect.forEach(backends, (backend) => Effect.map(backend.probe, (readiness) => ({ backend, readiness })), {
      concurrency: "unbounded"
    })
    if (args.json) {
      for (const { backend, readiness } of probed) {
        yield* Console.log(JSON.stringify({
          tier: backend.tier,
          ready: readiness.ready,
          reasons: readiness.ready ? [] : readiness.reasons,
          matrix: backend.capability
        }))
      }
      return
    }
    yield* Console.log("warrant doctor: isolation tiers on this host")
    for (const { backend, readiness } of probed) yield* Console.log(renderTier(backend, readiness))
  }).pipe(Effect.provide(egressLayer))).pipe(
    Command.withDescription("for every isolation tier: ready or not on this host and why, and the dimensions it enforces")
  )
