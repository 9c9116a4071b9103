/**
 * Name resolution as a service, so the proxy resolves each name exactly once per request
 * and tests can answer with whatever a hostile DNS server would.
 */
import { lookup } from "node:dns/promises"
import { Context, Data, Duration, Effect, Layer, Option } from "effect"
import { type Address, parseAddress } from "./Address.js"

export class ResolveFailed extends Data.TaggedError("ResolveFailed")<{
  readonly host: string
  readonly reason: "not-found" | "timeout" | "failed"
  readonly detail: string
}> {}

export type Answer = readonly [Address, ...Array<Address>]

export class Resolver extends Context.Tag("warrant/egress/Resolver")<Resolver, {
  /** Every address the name has, in the order the system would try them. */
  readonly resolve: (host: string) => Effect.Effect<Answer, ResolveFailed>
}>() {}

const TIMEOUT = Duration.seconds(10)

/** Parses literal answers; an empty or unreadable answer is a failure, never "no addresses". */
export const answerOf = (host: string, texts: ReadonlyArray<string>): Effect.Effect<Answer, ResolveFailed> => {
  const addresses = texts.map((text) => parseAddress(text))
  const bad = texts.find((_, i) => Option.isNone(addresses[i]!))
  if (bad !== undefined) {
    return Effect.fail(new ResolveFailed({ host, reason: "failed", detail: `the resolver returned an unreadable address ${JSON.stringify(bad)}` }))
  }
  const [first, ...rest] = addresses.map((address) => Option.getOrThrow(address))
  return first === undefined
    ? Effect.fail(new ResolveFailed({ host, reason: "not-found", detail: `${host} has no addresses` }))
    : Effect.succeed([first, ...rest])
}

const notFoundCodes = new Set(["ENOTFOUND", "ENODATA", "EAI_NONAME", "EAI_NODATA"])

/** The system resolver (getaddrinfo, so /etc/hosts applies as it does for any client). */
export const layerSystem: Layer.Layer<Resolver> = Layer.succeed(Resolver, {
  resolve: (host) =>
    Effect.tryPromise({
      try: () => lookup(host, { all: true, verbatim: true }),
      catch: (error) => {
        const code = (error as { code?: string }).code ?? ""
        return new ResolveFailed({
          host,
          reason: notFoundCodes.has(code) ? "not-found" : "failed",
          detail: `resolving ${host} failed: ${code || String(error)}`
        })
      }
    }).pipe(
      Effect.timeoutFail({
        duration: TIMEOUT,
        onTimeout: () => new ResolveFailed({ host, reason: "timeout", detail: `resolving ${host} took longer than 10 s` })
      }),
      Effect.flatMap((answers) => answerOf(host, answers.map((answer) => answer.address)))
    )
})

/**
 * Answers from a function, called once per resolution — a changing answer models DNS
 * rebinding. `undefined` or an empty list is NXDOMAIN.
 */
export const layerFunction = (answer: (host: string) => ReadonlyArray<string> | undefined): Layer.Layer<Resolver> =>
  Layer.succeed(Resolver, {
    resolve: (host) => Effect.suspend(() => answerOf(host, answer(host) ?? []))
  })

/** A fixed table; any other name is NXDOMAIN. */
export const layerStatic = (table: Readonly<Record<string, ReadonlyArray<string>>>): Layer.Layer<Resolver> =>
  layerFunction((host) => (Object.hasOwn(table, host) ? table[host] : undefined))
