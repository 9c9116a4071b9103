/**
 * In-memory request limits: a token bucket per caller, and a lockout for a source that keeps
 * failing authentication. Memory is bounded: the maps forget their oldest keys past a cap, so a
 * flood of distinct keys cannot grow them without end.
 */
import { Clock, Context, Duration, Effect, Layer } from "effect"
import { PlaneConfig } from "./PlaneConfig.js"

const MAX_KEYS = 100_000

interface Bucket { tokens: number; at: number }
interface Failures { count: number; since: number; lockedUntil: number }

export interface RateLimiterShape {
  /** Takes one request's token; the seconds to wait when the bucket is empty. */
  readonly take: (key: string) => Effect.Effect<number | undefined>
  /** Seconds left on a lockout of `key`, if locked. */
  readonly locked: (key: string) => Effect.Effect<number | undefined>
  /** Counts a failed authentication; the lockout's seconds when this one locks the key. */
  readonly fail: (key: string) => Effect.Effect<number | undefined>
}

export class RateLimiter extends Context.Tag("warrant/plane/RateLimiter")<RateLimiter, RateLimiterShape>() {}

const remember = <V>(map: Map<string, V>, key: string, value: V) => {
  map.delete(key)
  map.set(key, value)
  if (map.size > MAX_KEYS) map.delete(map.keys().next().value!)
}

const seconds = (millis: number) => Math.max(1, Math.ceil(millis / 1000))

export const make = Effect.gen(function*() {
  const { rateLimit, lockout } = yield* PlaneConfig
  const buckets = new Map<string, Bucket>()
  const failures = new Map<string, Failures>()
  const window = Duration.toMillis(lockout.window)
  const lockFor = Duration.toMillis(lockout.duration)

  return RateLimiter.of({
    take: (key) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const bucket = buckets.get(key) ?? { tokens: rateLimit.burst, at: now }
        const tokens = Math.min(rateLimit.burst, bucket.tokens + ((now - bucket.at) / 1000) * rateLimit.perSecond)
        if (tokens < 1) {
          remember(buckets, key, { tokens, at: now })
          return seconds(((1 - tokens) / rateLimit.perSecond) * 1000)
        }
        remember(buckets, key, { tokens: tokens - 1, at: now })
        return undefined
      }),
    locked: (key) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const entry = failures.get(key)
        return entry !== undefined && entry.lockedUntil > now ? seconds(entry.lockedUntil - now) : undefined
      }),
    fail: (key) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const previous = failures.get(key)
        const entry = previous === undefined || now - previous.since > window ? { count: 0, since: now, lockedUntil: 0 } : previous
        entry.count++
        if (entry.count >= lockout.failures) entry.lockedUntil = now + lockFor
        remember(failures, key, entry)
        return entry.lockedUntil > now ? seconds(lockFor) : undefined
      })
  })
})

export const layer = Layer.effect(RateLimiter, make)
