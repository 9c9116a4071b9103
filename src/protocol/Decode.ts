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

const MAX_MESSAGE = 300

// Effect spells a struct's expected type out in full (kilobytes for a contract); a person
// needs only to know an object was expected. Long actual values are cut, not echoed whole.
const clip = (message: string) => {
  const shape = /^Expected (\{.*\}), actual (.*)$/s.exec(message)
  const text = shape !== null && shape[1]!.length > 80 ? `Expected an object, actual ${shape[2]}` : message
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text
}

// Effect reports a failed union once per member ("Expected a positive number, actual 0" and
// "Expected undefined, actual 0" for an optional field); a person wants one line per field.
const mergeMessages = (messages: ReadonlyArray<string>): string => {
  const relevant = messages.length > 1 ? messages.filter((m) => !/^Expected undefined, actual /.test(m)) : messages
  const literals = relevant.map((m) => /^Expected ("(?:[^"\\]|\\.)*"|-?\d[\d.e+-]*|true|false|null), actual (.*)$/s.exec(m))
  if (relevant.length > 1 && literals.every((l) => l !== null && l[2] === literals[0]![2])) {
    return `Expected one of ${literals.map((l) => l![1]).join(", ")}, actual ${literals[0]![2]}`
  }
  return [...new Set(relevant)].join("; or ")
}

type Issue = ParseResult.ParseIssue

const toArray = <A>(x: A | ReadonlyArray<A>): ReadonlyArray<A> => (Array.isArray(x) ? x : [x as A])

const hasPointer = (issue: Issue): boolean =>
  issue._tag === "Pointer" ||
  (issue._tag === "Composite" && toArray(issue.issues).some(hasPointer)) ||
  ((issue._tag === "Refinement" || issue._tag === "Transformation") && hasPointer(issue.issue))

/** Calls `sink` with each field-level failure: where it is and the issue to describe there. */
const leaves = (issue: Issue, path: ReadonlyArray<PropertyKey>, sink: (path: ReadonlyArray<PropertyKey>, issue: Issue) => void): void => {
  if (issue._tag === "Pointer") return leaves(issue.issue, [...path, ...toArray(issue.path)], sink)
  if (issue._tag === "Composite" && toArray(issue.issues).some(hasPointer)) {
    for (const child of toArray(issue.issues)) leaves(child, path, sink)
    return
  }
  if ((issue._tag === "Refinement" || issue._tag === "Transformation") && hasPointer(issue.issue)) return leaves(issue.issue, path, sink)
  sink(path, issue)
}

/** Issues described per bundle: beyond this many, describing them costs more than it tells. */
export const MAX_ISSUES = 20

/**
 * One issue per bad field, at most MAX_ISSUES of them (and a count of the rest): Effect's
 * formatter spells out the whole expected type for every failure, which hostile input with
 * 100,000 bad elements would turn into seconds of work.
 */
export const issuesOf = (error: ParseResult.ParseError, root = "$"): ReadonlyArray<DecodeIssue> => {
  const kept: Array<{ readonly path: ReadonlyArray<PropertyKey>; readonly issue: Issue }> = []
  let total = 0
  leaves(error.issue, [], (path, issue) => {
    total++
    if (kept.length < MAX_ISSUES) kept.push({ path, issue })
  })
  const byPath = new Map<string, Array<string>>()
  for (const { path, issue } of kept) {
    let described: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>
    try {
      described = ParseResult.ArrayFormatter.formatIssueSync(issue)
    } catch {
      // Effect's formatter recurses into the offending value; a 10,000-level array overflows it.
      described = [{ path: [], message: "invalid value (too deeply nested to describe)" }]
    }
    for (const d of described) {
      const at = formatPath([...path, ...d.path], root)
      byPath.set(at, [...(byPath.get(at) ?? []), d.message])
    }
  }
  const issues = [...byPath].map(([path, messages]) => new DecodeIssue({ path, message: clip(mergeMessages(messages)) }))
  return total > kept.length
    ? [...issues, new DecodeIssue({ path: root, message: `and ${total - kept.length} more invalid field(s) not described` })]
    : issues
}

/**
 * Where a value sits that JavaScript cannot turn into text (an object whose own `toString` is
 * not a function, which JSON can spell): Effect's union search calls String() on tags and
 * throws. Tag-like keys are preferred, since that is where the search looks.
 */
const unprintablePath = (input: unknown): ReadonlyArray<PropertyKey> | undefined => {
  const found: Array<ReadonlyArray<PropertyKey>> = []
  const stack: Array<[unknown, ReadonlyArray<PropertyKey>]> = [[input, []]]
  while (stack.length > 0 && found.length < 64) {
    const [value, path] = stack.pop()!
    if (typeof value !== "object" || value === null || path.length > 64) continue
    const own = value as Record<string, unknown>
    if ((Object.hasOwn(own, "toString") && typeof own.toString !== "function") || (Object.hasOwn(own, "valueOf") && typeof own.valueOf !== "function")) {
      found.push(path)
    }
    for (const key of Object.keys(own).reverse()) stack.push([own[key], [...path, Array.isArray(value) ? Number(key) : key]])
  }
  return found.find((p) => ["type", "kind", "version"].includes(String(p.at(-1)))) ?? found[0]
}

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
  const object = `warrant.${family}.v1`
  const fail = (issues: ReadonlyArray<DecodeIssue>) => Either.left(new ProtocolDecodeError({ object, issues }))
  return (input: unknown, root = "$"): Either.Either<A, ProtocolDecodeError | UnsupportedVersion> => {
    const version = checkVersion(family, input)
    if (Either.isLeft(version)) return Either.left(version.left)
    let decoded: Either.Either<A, ParseResult.ParseError>
    try {
      decoded = decode(input)
    } catch (error) {
      // Effect's decoder throws on a few hostile-but-valid JSON shapes; they are input errors.
      const path = unprintablePath(input)
      return fail([new DecodeIssue({
        path: formatPath(path ?? [], root),
        message: clip(path === undefined ? `input cannot be examined: ${String(error)}` : "expected a plain value; this object has its own toString or valueOf field")
      })])
    }
    return Either.isRight(decoded) ? Either.right(decoded.right) : fail(issuesOf(decoded.left, root))
  }
}
