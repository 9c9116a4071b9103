/**
 * The glob matcher for deny patterns and allowlists, pure and case-sensitive. A deny pattern
 * without `/` names a file or directory at every depth (`.env*` denies `a/b/.env.local`); one with
 * `/` is anchored at the root. Either way a match on a directory covers everything below it.
 * Allowlist globs (`allowUntracked`, `files`) are always anchored, so they never reach further
 * than they read.
 */

/** Refused in every capture, whatever the organisation adds: files that conventionally hold credentials. */
export const DEFAULT_DENY_PATTERNS: ReadonlyArray<string> = [
  ".env*",
  "*.pem",
  "*.key",
  "id_rsa*",
  "id_ed25519*",
  ".npmrc",
  ".pypirc",
  ".netrc",
  ".git-credentials",
  "*.p12",
  "*.pfx"
]

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")

/** A `[...]` class starting at `start` (the index of `[`), as a RegExp source and the index after it; undefined if unterminated. */
const characterClass = (glob: string, start: number): { source: string; end: number } | undefined => {
  let i = start + 1
  let negate = false
  if (glob[i] === "!" || glob[i] === "^") {
    negate = true
    i++
  }
  let body = ""
  // A `]` right after the opening (or its negation) is a literal member, as in POSIX globs.
  let first = true
  while (i < glob.length) {
    const c = glob[i]!
    if (c === "]" && !first) {
      // A class never matches the separator: globs work segment by segment.
      return { source: negate ? `[^/${body}]` : `(?!/)[${body}]`, end: i + 1 }
    }
    if (c === "\\" && i + 1 < glob.length) {
      body += escapeRegExp(glob[i + 1]!)
      i += 2
    } else {
      body += c === "-" && !first && glob[i + 1] !== "]" ? "-" : escapeRegExp(c)
      i++
    }
    first = false
  }
  return undefined
}

/** The RegExp source of a glob over a whole `/`-separated path: `*` and `?` stay within a segment, `**` spans segments. */
export const globSource = (glob: string): string => {
  let out = ""
  let i = 0
  while (i < glob.length) {
    const c = glob[i]!
    if (c === "*" && glob[i + 1] === "*") {
      const atStart = i === 0 || glob[i - 1] === "/"
      const atEnd = i + 2 === glob.length || glob[i + 2] === "/"
      if (atStart && atEnd) {
        if (i + 2 === glob.length) {
          // `a/**` matches everything below a; a lone `**` matches every path.
          out += ".*"
          i += 2
        } else {
          // `**/` matches zero or more whole segments.
          out += "(?:[^/]*/)*"
          i += 3
        }
        continue
      }
      // `a**b` inside a segment is two stars: no more than `*`.
      out += "[^/]*"
      i += 2
      continue
    }
    if (c === "*") out += "[^/]*"
    else if (c === "?") out += "[^/]"
    else if (c === "[") {
      const cls = characterClass(glob, i)
      if (cls !== undefined) {
        out += cls.source
        i = cls.end
        continue
      }
      out += "\\["
    } else if (c === "\\" && i + 1 < glob.length) {
      out += escapeRegExp(glob[i + 1]!)
      i += 2
      continue
    } else out += escapeRegExp(c)
    i++
  }
  return out
}

/** A compiled list of patterns: the first one (in list order) that denies a path, or undefined. */
export interface PathMatcher {
  readonly firstMatch: (path: string) => string | undefined
}

interface Compiled {
  readonly pattern: string
  readonly anchored: boolean
  readonly regexp: RegExp
}

const compileOne = (pattern: string, anchoredAlways: boolean): Compiled => {
  // A leading `/` anchors (as in .gitignore); a trailing one only says "directory", and a
  // directory match already covers what is below it.
  const trimmed = pattern.replace(/\/+$/, "")
  const anchored = anchoredAlways || trimmed.includes("/")
  const body = trimmed.replace(/^\/+/, "")
  return { pattern, anchored, regexp: new RegExp(`^(?:${globSource(body)})$`, "s") }
}

/**
 * Whether a path is denied: each anchored pattern is tried against the path and each of its
 * ancestor directories, each basename pattern against every segment. Results for directory
 * prefixes are cached, so a 100,000-path tree costs about one test per distinct directory and file.
 */
const makeMatcher = (patterns: ReadonlyArray<string>, anchoredAlways: boolean): PathMatcher => {
  const compiled = patterns.filter((p) => p.replace(/\/+$/, "").replace(/^\/+/, "") !== "").map((p) => compileOne(p, anchoredAlways))
  const anchored = compiled.filter((c) => c.anchored)
  const basename = compiled.filter((c) => !c.anchored)
  const anyAnchored = anchored.length === 0 ? undefined : new RegExp(anchored.map((c) => c.regexp.source).join("|"), "s")
  const anyBasename = basename.length === 0 ? undefined : new RegExp(basename.map((c) => c.regexp.source).join("|"), "s")
  const order = new Map(compiled.map((c, i) => [c, i]))

  // The first pattern (in list order) matching this one prefix of a path: its last segment or the prefix itself.
  const matchHere = (prefix: string, segment: string): Compiled | undefined => {
    const hitA = anyAnchored !== undefined && anyAnchored.test(prefix)
    const hitB = anyBasename !== undefined && anyBasename.test(segment)
    if (!hitA && !hitB) return undefined
    const candidates = [
      ...(hitA ? anchored.filter((c) => c.regexp.test(prefix)) : []),
      ...(hitB ? basename.filter((c) => c.regexp.test(segment)) : [])
    ]
    return candidates.sort((a, b) => order.get(a)! - order.get(b)!)[0]
  }

  // "First" is in list order, whichever level of the path each pattern matched at.
  const earlier = (a: Compiled | undefined, b: Compiled | undefined): Compiled | undefined =>
    a === undefined ? b : b === undefined ? a : order.get(a)! <= order.get(b)! ? a : b

  // The first pattern matching `path` or one of its ancestors; directories are cached.
  const directories = new Map<string, Compiled | null>()
  const lookup = (path: string, cache: boolean): Compiled | undefined => {
    const cached = cache ? directories.get(path) : undefined
    if (cached !== undefined) return cached ?? undefined
    const slash = path.lastIndexOf("/")
    const above = slash < 0 ? undefined : lookup(path.slice(0, slash), true)
    const found = earlier(above, matchHere(path, path.slice(slash + 1)))
    if (cache) directories.set(path, found ?? null)
    return found
  }

  return {
    firstMatch: (path) => compiled.length === 0 ? undefined : lookup(path, false)?.pattern
  }
}

/** Deny patterns: basename patterns at every depth, `/` patterns anchored. */
export const denyMatcher = (patterns: ReadonlyArray<string>): PathMatcher => makeMatcher(patterns, false)

/** Allowlist globs: always anchored at the root; a glob naming a directory allows what is below it. */
export const allowMatcher = (patterns: ReadonlyArray<string>): PathMatcher => makeMatcher(patterns, true)

/** The built-in patterns followed by the organisation's, without repeats: what a manifest records. */
export const effectiveDenyPatterns = (extra: ReadonlyArray<string> = []): Array<string> => [...new Set([...DEFAULT_DENY_PATTERNS, ...extra])]
