/**
 * Decoding untrusted input into protocol objects. Every failure names the path of
 * every bad field; an object from a future major version is refused up front rather
 * than half-understood.
 */
import { Either, ParseResult, Schema } from "effect"

export class DecodeIssue extends Schema.Class<DecodeIssue>("DecodeIssue")({
  path: Schema.String,
  message: Schema.String
}) {}

export class ProtocolDecodeError extends Schema.TaggedError<ProtocolDecodeError>()("ProtocolDecodeError", {
  object: Schema.String,
  issues: Schema.Array(DecodeIssue)
}) {
  override get message(): string {
    return `invalid ${this.object}: ${this.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`
  }
}

export class UnsupportedVersion extends Schema.TaggedError<UnsupportedVersion>()("UnsupportedVersion", {
  object: Schema.String,
  found: Schema.String,
  supported: Schema.String
}) {
  override get message(): string {
    return `unsupported ${this.object} version ${JSON.stringify(this.found)}: this build understands ${this.supported}; upgrade warrant to read it`
  }
}

/** `$.a.b[2]["odd key"]`: the same path notation the canonicaliser uses. */
export const formatPath = (path: ReadonlyArray<PropertyKey>, root = "$"): string =>
  path.reduce<string>((acc, key) =>
    typeof key === "number"
      ? `${acc}[${key}]`
      : typeof key === "string" && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)
      ? `${acc}.${key}`
      : `${acc}[${JSON.stringify(String(key))}]`, root)

export const issuesOf = (error: ParseResult.ParseError, root = "$"): ReadonlyArray<DecodeIssue> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
    new DecodeIssue({ path: formatPath(issue.path, root), message: issue.message })
  )

/**
 * The version field of a protocol object: `warrant.<family>.v1`, or a v1 minor revision
 * (`warrant.<family>.v1.3`), whose additions are optional fields an older reader ignores.
 */
export const versionField = <F extends string>(family: F) => {
  const exact = `warrant.${family}.v1`
  const minor = new RegExp(`^warrant\\.${family.replaceAll(".", "\\.")}\\.v1\\.[0-9]+$`)
  return Schema.String.pipe(
    Schema.filter((s): s is `warrant.${F}.v1` => s === exact || minor.test(s), {
      message: () => `expected "warrant.${family}.v1"`
    })
  )
}

const versionPattern = /^warrant\.([a-z.]+)\.v([0-9]+)(\.[0-9]+)?$/

/** Refuses another major version of the same object before schema decoding sees it. */
export const checkVersion = (family: string, input: unknown): Either.Either<void, UnsupportedVersion> => {
  if (typeof input !== "object" || input === null || !("version" in input)) return Either.void
  const found = (input as { version: unknown }).version
  if (typeof found !== "string") return Either.void
  const m = versionPattern.exec(found)
  if (m === null || m[1] !== family || m[2] === "1") return Either.void
  return Either.left(new UnsupportedVersion({ object: `warrant.${family}`, found, supported: `warrant.${family}.v1` }))
}

/**
 * A decoder for one versioned protocol object: all errors collected (not just the first),
 * unknown fields ignored.
 */
export const versionedDecoder = <A, I>(family: string, schema: Schema.Schema<A, I, never>) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })
  return (input: unknown, root = "$"): Either.Either<A, ProtocolDecodeError | UnsupportedVersion> =>
    Either.flatMap(checkVersion(family, input), () =>
      Either.mapLeft(decode(input), (error) => new ProtocolDecodeError({ object: `warrant.${family}.v1`, issues: issuesOf(error, root) }))
    )
}
