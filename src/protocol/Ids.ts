/**
 * Branded identifiers and the small value types every protocol object shares.
 * Patterns are strict on purpose: an id ends up in file names, URLs and log lines.
 */
import { Schema } from "effect"

const identifier = (brand: string, what: string) =>
  Schema.String.pipe(
    Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, {
      message: () => `expected ${what}: 1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit`
    }),
    Schema.brand(brand)
  )

export const RunId = identifier("RunId", "a run id")
export type RunId = typeof RunId.Type

export const RunnerId = identifier("RunnerId", "a runner id")
export type RunnerId = typeof RunnerId.Type

export const PoolName = identifier("PoolName", "a pool name")
export type PoolName = typeof PoolName.Type

/** Secret names are environment-variable-like so they can never smuggle a value or a path. */
export const SecretName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/, {
    message: () => "expected a secret name: 1-128 characters of A-Z a-z 0-9 _ . - starting with a letter or _"
  }),
  Schema.brand("SecretName")
)
export type SecretName = typeof SecretName.Type

export const EnvName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]{0,255}$/, { message: () => "expected an environment variable name" }),
  Schema.brand("EnvName")
)
export type EnvName = typeof EnvName.Type

/** `ed25519:` + SHA-256 (hex) of the raw 32-byte public key: derived, so a key list cannot lie about it. */
export const KeyId = Schema.String.pipe(
  Schema.pattern(/^ed25519:[0-9a-f]{64}$/, { message: () => "expected a key id: \"ed25519:\" followed by 64 lowercase hex characters" }),
  Schema.brand("KeyId")
)
export type KeyId = typeof KeyId.Type

/** An ed25519 public key: 32 bytes as 64 lowercase hex characters. */
export const PublicKeyHex = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "expected an ed25519 public key: 64 lowercase hex characters" }),
  Schema.brand("PublicKeyHex")
)
export type PublicKeyHex = typeof PublicKeyHex.Type

/** An ed25519 signature: 64 bytes as 128 lowercase hex characters. */
export const SignatureHex = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{128}$/, { message: () => "expected an ed25519 signature: 128 lowercase hex characters" }),
  Schema.brand("SignatureHex")
)
export type SignatureHex = typeof SignatureHex.Type

const daysIn = (year: number, month: number): number =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31

// Field ranges checked by hand: Date.parse + toISOString per chain entry is a hot-path cost.
const isCalendarInstant = (s: string): boolean => {
  const year = Number(s.slice(0, 4))
  const month = Number(s.slice(5, 7))
  const day = Number(s.slice(8, 10))
  return month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month) &&
    Number(s.slice(11, 13)) <= 23 && Number(s.slice(14, 16)) <= 59 && Number(s.slice(17, 19)) <= 59
}

/**
 * An RFC 3339 instant in UTC (`Z`), as produced by `Date.prototype.toISOString`.
 * One spelling only, so equal instants hash equally.
 */
export const Timestamp = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, {
    message: () => "expected a UTC timestamp like 2026-01-31T12:00:00.000Z"
  }),
  Schema.filter(isCalendarInstant, {
    message: () => "expected a real calendar instant"
  }),
  Schema.brand("Timestamp")
)
export type Timestamp = typeof Timestamp.Type

export const timestampOf = (millis: number): Timestamp => new Date(millis).toISOString() as Timestamp

export const millisOf = (ts: Timestamp): number => Date.parse(ts)

export const NonNegativeInt = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

/** Who asked for or approved a run. */
export const Principal = Schema.Struct({
  kind: Schema.Literal("human", "service"),
  id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256))
})
export type Principal = typeof Principal.Type

export const AgentKind = Schema.Literal("claude-code", "codex", "pi", "mock", "command")
export type AgentKind = typeof AgentKind.Type

export const IsolationTier = Schema.Literal("process", "hermetic", "namespace", "container", "vercel-sandbox")
export type IsolationTier = typeof IsolationTier.Type

/** The sandbox dimensions a tier can enforce or attest. */
export const Dimension = Schema.Literal("read", "write", "command", "network", "env")
export type Dimension = typeof Dimension.Type
export const dimensions: ReadonlyArray<Dimension> = ["read", "write", "command", "network", "env"]

export const Disclosure = Schema.Literal("none", "metadata-only", "redacted", "minimal-context", "full")
export type Disclosure = typeof Disclosure.Type
