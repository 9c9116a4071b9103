/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Everything that gets hashed or signed goes through here, so two parties holding equal
 * JSON data must produce byte-identical text. Anything JSON cannot represent exactly is
 * rejected instead of being silently coerced the way JSON.stringify would.
 */
import { Data, Either } from "effect"

export class CanonicalizationError extends Data.TaggedError("CanonicalizationError")<{
  readonly path: string
  readonly reason: "NonFiniteNumber" | "LoneSurrogate" | "UnsupportedType" | "Cycle" | "TooDeep"
  readonly message: string
}> {}

// Thrown rather than returned, so the success path never wraps or inspects results.
// Each enclosing container records its key as the exception unwinds, which means the
// path string is only ever built when something is actually wrong.
class Failure {
  readonly keys: Array<string | number> = [] // innermost first
  constructor(readonly reason: CanonicalizationError["reason"], readonly problem: string) {}
}

const within = (e: unknown, key: string | number): unknown => {
  if (e instanceof Failure) e.keys.push(key)
  return e
}

// With the `u` flag a well-formed surrogate pair is one code point and does not match,
// so only unpaired halves hit. (String#isWellFormed is ES2024; our lib is ES2023.)
const LONE_SURROGATE = /\p{Surrogate}/u
// Without `u` this matches any surrogate unit. Most strings (keys, ids, hashes) contain
// none of these, and one regex test is far cheaper than a JSON.stringify call per string.
const MAYBE_ESCAPE = /["\\\x00-\x1f\ud800-\udfff]/

const quote = (s: string, what: string): string => {
  if (!MAYBE_ESCAPE.test(s)) return '"' + s + '"'
  const lone = LONE_SURROGATE.exec(s)
  if (lone !== null) {
    const unit = s.charCodeAt(lone.index).toString(16).toUpperCase()
    throw new Failure("LoneSurrogate", `${what} contains a lone surrogate U+${unit} at index ${lone.index}`)
  }
  // For well-formed strings, JSON.stringify (ES2019+) escapes exactly as RFC 8785 §3.2.2.2:
  // short forms for \b \t \n \f \r " \\, lowercase \u00xx for other controls, all else literal.
  return JSON.stringify(s)
}

const describe = (value: unknown): string => {
  if (typeof value !== "object" || value === null) return typeof value
  const name: unknown = Object.getPrototypeOf(value)?.constructor?.name
  return typeof name === "string" && name !== "" ? `${name} object` : "non-plain object"
}

const unsupported = (value: unknown): Failure =>
  new Failure(
    "UnsupportedType",
    `${describe(value)} is not JSON data (only null, booleans, finite numbers, strings, arrays and plain objects are)`
  )

// Ancestors are the objects on the current path only: shared (DAG) references are fine,
// as in JSON.stringify; only a value containing itself is a cycle. A Set keeps this O(1)
// per object however deep the nesting.
/** Far beyond any protocol object, far below what recursion can survive. */
export const MAX_DEPTH = 256

const emit = (value: unknown, ancestors: Set<object>): string => {
  switch (typeof value) {
    case "string":
      return quote(value, "string")
    case "number":
      // ECMAScript Number::toString is RFC 8785 §3.2.2.3 verbatim, including -0 → "0".
      if (Number.isFinite(value)) return String(value)
      throw new Failure("NonFiniteNumber", `${value} is not a JSON number`)
    case "boolean":
      return value ? "true" : "false"
    case "object": {
      if (value === null) return "null"
      if (ancestors.has(value)) throw new Failure("Cycle", "circular reference (value contains itself)")
      // A bound on nesting keeps hostile input from overflowing the stack mid-verification.
      if (ancestors.size >= MAX_DEPTH) throw new Failure("TooDeep", `nested deeper than ${MAX_DEPTH} levels`)
      if (Array.isArray(value)) return emitArray(value, ancestors)
      const proto: unknown = Object.getPrototypeOf(value)
      // Prototype check rather than toJSON: class instances (Date, Map, Option, ...) carry
      // their own serialisation ideas, and a hash must not depend on them.
      if (proto === Object.prototype || proto === null) return emitObject(value as Record<string, unknown>, ancestors)
      throw unsupported(value)
    }
    default:
      // undefined (including array holes), function, symbol, bigint
      throw unsupported(value)
  }
}

const emitArray = (array: ReadonlyArray<unknown>, ancestors: Set<object>): string => {
  ancestors.add(array)
  let out = "["
  let i = 0 // hoisted so the catch knows which element failed
  try {
    for (; i < array.length; i++) out += (i === 0 ? "" : ",") + emit(array[i], ancestors)
  } catch (e) {
    throw within(e, i)
  }
  ancestors.delete(array)
  return out + "]"
}

const emitObject = (object: Record<string, unknown>, ancestors: Set<object>): string => {
  ancestors.add(object)
  // Default sort compares UTF-16 code units, which is exactly RFC 8785 §3.2.3.
  const keys = Object.keys(object).sort()
  let out = "{"
  let sep = "" // not derived from the index: omitted members must not leave a comma
  let key = ""
  try {
    for (let i = 0; i < keys.length; i++) {
      key = keys[i]!
      const child = object[key]
      if (child === undefined) continue // omitted, as JSON.stringify does
      out += sep + quote(key, "object key") + ":" + emit(child, ancestors)
      sep = ","
    }
  } catch (e) {
    throw within(e, key)
  }
  ancestors.delete(object)
  return out + "}"
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

const toError = (failure: Failure): CanonicalizationError => {
  const path = failure.keys.reduceRight<string>(
    (acc, k) => acc + (typeof k === "number" ? `[${k}]` : IDENTIFIER.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`),
    "$"
  )
  return new CanonicalizationError({ path, reason: failure.reason, message: `cannot canonicalise ${path}: ${failure.problem}` })
}

/** The RFC 8785 canonical JSON text of `value`, or why it has none. */
export const canonicalize = (value: unknown): Either.Either<string, CanonicalizationError> => {
  try {
    return Either.right(emit(value, new Set()))
  } catch (e) {
    if (e instanceof Failure) return Either.left(toError(e))
    throw e // a throwing getter or proxy trap is a defect, not a canonicalisation error
  }
}

const utf8 = new TextEncoder()

/** The UTF-8 bytes of the canonical text: what gets hashed and signed. */
export const canonicalBytes = (value: unknown): Either.Either<Uint8Array, CanonicalizationError> =>
  Either.map(canonicalize(value), (text) => utf8.encode(text))

/** For values already known to be JSON data; throws the CanonicalizationError otherwise. */
export const canonicalizeOrThrow = (value: unknown): string =>
  Either.getOrThrowWith(canonicalize(value), (error) => error)
