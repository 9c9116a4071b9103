/**
 * The Authentication middleware: resolves the bearer token to its caller, locks out an address
 * that keeps presenting unknown tokens, and rate-limits each principal or runner.
 */
import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer, Option, Redacted } from "effect"
import { TooManyRequests, Unauthorized } from "./ApiErrors.js"
import { Authentication, type CallerShape } from "./Caller.js"
import { Identity } from "./Identity.js"
import { RateLimiter } from "./RateLimiter.js"

const subject = (caller: CallerShape): string =>
  caller.kind === "principal" ? `principal:${caller.principal.id}` : `runner:${caller.runnerId}`

export const addressOf = (request: HttpServerRequest.HttpServerRequest): string => Option.getOrElse(request.remoteAddress, () => "unknown")

export const lockedOut = (seconds: number) =>
  new TooManyRequests({
    message: `too many failed authentications from this address; try again in ${seconds} s`,
    details: { retryAfterSeconds: seconds, reason: "lockout" }
  })

export const rateLimited = (who: string, seconds: number) =>
  new TooManyRequests({ message: `rate limit exceeded for ${who}; retry in ${seconds} s`, details: { retryAfterSeconds: seconds, reason: "rate-limit" } })

/**
 * Runs a credential check for the calling address: refused while the address is locked out, and
 * a guess (an unknown credential) counts towards its lockout — the guess that trips it is told so.
 * A missing or spent credential is no attack and does not count.
 */
export const guarded = <A, E, R>(check: Effect.Effect<A, E | Unauthorized, R>) =>
  Effect.gen(function*() {
    const limiter = yield* RateLimiter
    const address = `address:${addressOf(yield* HttpServerRequest.HttpServerRequest)}`
    const locked = yield* limiter.locked(address)
    if (locked !== undefined) return yield* lockedOut(locked)
    return yield* Effect.catchIf(check, (e): e is Unauthorized => e instanceof Unauthorized, (e) =>
      e.details.reason === "unknown"
        ? Effect.flatMap(limiter.fail(address), (lock) => Effect.fail(lock === undefined ? e : lockedOut(lock)))
        : Effect.fail(e))
  })

/**
 * HttpApi's bearer security takes whatever follows the header's first seven characters, so
 * `Basic  <token>` or `Token  <token>` would pass as a bearer token. Only the Bearer scheme (in
 * any case, RFC 7235) carries one: another scheme is no bearer token, and its value is never read.
 */
const bearerScheme = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
  const header = request.headers.authorization
  return header === undefined || /^bearer /i.test(header)
    ? Effect.void
    : Effect.fail(new Unauthorized({ message: "the Authorization header does not use the Bearer scheme: send Authorization: Bearer <token>", details: { reason: "missing" } }))
})

export const layer = Layer.effect(
  Authentication,
  Effect.gen(function*() {
    const identity = yield* Identity
    const limiter = yield* RateLimiter
    return Authentication.of({
      bearer: (token) =>
        Effect.gen(function*() {
          const caller = yield* guarded(Effect.zipRight(bearerScheme, identity.authenticate(Redacted.value(token)).pipe(Effect.catchTag("StoreError", (e) => Effect.die(e)))))
          const wait = yield* limiter.take(subject(caller))
          if (wait !== undefined) return yield* rateLimited(subject(caller), wait)
          return caller
        }).pipe(Effect.provideService(RateLimiter, limiter))
    })
  })
)
