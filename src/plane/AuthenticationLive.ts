/**
 * The Authentication middleware: resolves the bearer token to its caller, locks out an address
 * that keeps presenting unknown tokens, and rate-limits each principal or runner.
 */
import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer, Option, Redacted } from "effect"
import { TooManyRequests } from "./ApiErrors.js"
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

export const layer = Layer.effect(
  Authentication,
  Effect.gen(function*() {
    const identity = yield* Identity
    const limiter = yield* RateLimiter
    return Authentication.of({
      bearer: (token) =>
        Effect.gen(function*() {
          const address = `address:${addressOf(yield* HttpServerRequest.HttpServerRequest)}`
          const locked = yield* limiter.locked(address)
          if (locked !== undefined) return yield* lockedOut(locked)
          const caller = yield* identity.authenticate(Redacted.value(token)).pipe(
            Effect.catchTag("StoreError", (e) => Effect.die(e)),
            Effect.catchTag("Unauthorized", (e) =>
              // Only guesses count towards a lockout; a missing or spent token is no attack.
              e.details.reason === "unknown"
                ? Effect.flatMap(limiter.fail(address), (lock) => Effect.fail(lock === undefined ? e : lockedOut(lock)))
                : Effect.fail(e))
          )
          const wait = yield* limiter.take(subject(caller))
          if (wait !== undefined) {
            return yield* new TooManyRequests({
              message: `rate limit exceeded for ${subject(caller)}; retry in ${wait} s`,
              details: { retryAfterSeconds: wait, reason: "rate-limit" }
            })
          }
          return caller
        })
    })
  })
)
