/**
 * The plane's settings, resolved once: limits, lease and token lifetimes, rate limits, the
 * active policy and the secrets master key. `fromEnv` reads them from Effect `Config`
 * (environment variables by default); tests build one with `make`.
 */
import { Config, Context, Duration, Redacted } from "effect"
import type { Policy } from "../protocol/Policy.js"

export interface RateLimit {
  /** Sustained requests per second per principal or runner. */
  readonly perSecond: number
  readonly burst: number
}

export interface Lockout {
  /** Failed authentications (unknown tokens) from one address before it is locked out. */
  readonly failures: number
  readonly window: Duration.Duration
  readonly duration: Duration.Duration
}

export interface PlaneSettings {
  readonly lease: Duration.Duration
  /** How often expired leases are looked for. */
  readonly sweepEvery: Duration.Duration
  /** How long an issued contract stays claimable. */
  readonly contractTtl: Duration.Duration
  readonly maxJsonBytes: number
  readonly maxBlobBytes: number
  readonly maxEventsPerRun: number
  readonly rateLimit: RateLimit
  readonly lockout: Lockout
  readonly policy: Policy
  readonly masterKey: Redacted.Redacted<Uint8Array>
}

export class PlaneConfig extends Context.Tag("warrant/plane/PlaneConfig")<PlaneConfig, PlaneSettings>() {}

export const defaults = {
  lease: Duration.seconds(30),
  sweepEvery: Duration.seconds(1),
  contractTtl: Duration.hours(24),
  maxJsonBytes: 16 * 1024 * 1024,
  maxBlobBytes: 64 * 1024 * 1024,
  maxEventsPerRun: 100_000,
  rateLimit: { perSecond: 50, burst: 200 },
  lockout: { failures: 10, window: Duration.minutes(5), duration: Duration.minutes(5) }
} satisfies Omit<PlaneSettings, "policy" | "masterKey">

export const make = (
  required: Pick<PlaneSettings, "policy" | "masterKey">,
  overrides: Partial<Omit<PlaneSettings, "policy" | "masterKey">> = {}
): PlaneSettings => ({ ...defaults, ...overrides, ...required })

/** Limits from the environment; everything else keeps its default. */
export const limitsFromEnv = Config.all({
  lease: Config.integer("WARRANT_LEASE_SECONDS").pipe(Config.validate({ message: "WARRANT_LEASE_SECONDS must be 1..86400", validation: (n) => n >= 1 && n <= 86_400 }), Config.map(Duration.seconds), Config.withDefault(defaults.lease)),
  contractTtl: Config.integer("WARRANT_CONTRACT_TTL_SECONDS").pipe(Config.validate({ message: "WARRANT_CONTRACT_TTL_SECONDS must be at least 60", validation: (n) => n >= 60 }), Config.map(Duration.seconds), Config.withDefault(defaults.contractTtl)),
  maxBlobBytes: Config.integer("WARRANT_MAX_BLOB_BYTES").pipe(Config.validate({ message: "WARRANT_MAX_BLOB_BYTES must be positive", validation: (n) => n > 0 }), Config.withDefault(defaults.maxBlobBytes)),
  rateLimit: Config.all({
    perSecond: Config.number("WARRANT_RATE_PER_SECOND").pipe(Config.withDefault(defaults.rateLimit.perSecond)),
    burst: Config.number("WARRANT_RATE_BURST").pipe(Config.withDefault(defaults.rateLimit.burst))
  })
})
