import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { allowMatcher, DEFAULT_DENY_PATTERNS, denyMatcher, effectiveDenyPatterns } from "../../src/workspace/DenyPatterns.js"

// ---------------------------------------------------------------------------------------------
// A reference matcher: slow, recursive and obviously right, to check the compiled one against.
// ---------------------------------------------------------------------------------------------

/** One segment against one glob segment: `*` a run, `?` one character, `[..]` / `[!..]` a class with ranges. */
const segmentMatches = (glob: string, text: string): boolean => {
  if (glob === "") return text === ""
  const c = glob[0]!
  if (c === "*") {
    const rest = glob.replace(/^\*+/, "")
    for (let i = 0; i <= text.length; i++) if (segmentMatches(rest, text.slice(i))) return true
    return false
  }
  if (text === "") return false
  if (c === "?") return segmentMatches(glob.slice(1), text.slice(1))
  if (c === "[") {
    const close = glob.indexOf("]", 2)
    if (close > 0) {
      let body = glob.slice(1, close)
      const negate = body.startsWith("!")
      if (negate) body = body.slice(1)
      let member = false
      for (let i = 0; i < body.length; i++) {
        if (body[i + 1] === "-" && i + 2 < body.length) {
          if (text[0]! >= body[i]! && text[0]! <= body[i + 2]!) member = true
          i += 2
        } else if (body[i] === text[0]) member = true
      }
      return member !== negate && segmentMatches(glob.slice(close + 1), text.slice(1))
    }
  }
  return c === text[0] && segmentMatches(glob.slice(1), text.slice(1))
}

/** A whole path against a whole glob: a `**` segment spans zero or more segments (one or more at the end). */
const pathMatches = (glob: ReadonlyArray<string>, path: ReadonlyArray<string>): boolean => {
  if (glob.length === 0) return path.length === 0
  const [head, ...rest] = glob
  if (head === "**") {
    const least = rest.length === 0 ? 1 : 0
    for (let i = least; i <= path.length; i++) if (pathMatches(rest, path.slice(i))) return true
    return false
  }
  return path.length > 0 && segmentMatches(head!, path[0]!) && pathMatches(rest, path.slice(1))
}

const referenceDenies = (pattern: string, path: string): boolean => {
  const segments = path.split("/")
  if (!pattern.includes("/")) return segments.some((segment) => pathMatches([pattern], [segment]))
  const glob = pattern.split("/")
  return segments.some((_, i) => pathMatches(glob, segments.slice(0, i + 1)))
}

const denies = (patterns: ReadonlyArray<string>, path: string) => denyMatcher(patterns).firstMatch(path)

describe("deny patterns", () => {
  it("the built-in list", () => {
    expect(DEFAULT_DENY_PATTERNS).toEqual([".env*", "*.pem", "*.key", "id_rsa*", "id_ed25519*", ".npmrc", ".pypirc", ".netrc", ".git-credentials", "*.p12", "*.pfx"])
    expect(effectiveDenyPatterns(["*.key", "vault/"])).toEqual([...DEFAULT_DENY_PATTERNS, "vault/"])
  })

  const table: ReadonlyArray<readonly [string, string | undefined]> = [
    [".env", ".env*"],
    ["a/b/.env.local", ".env*"],
    [".env.d/conf", ".env*"],
    ["env", undefined],
    ["x.env", undefined],
    [".ENV", undefined],
    ["deploy/tls/server.pem", "*.pem"],
    ["server.pem.txt", undefined],
    ["SERVER.PEM", undefined],
    ["certs.pem/readme", "*.pem"],
    ["home/.ssh/id_rsa", "id_rsa*"],
    ["id_rsa.pub", "id_rsa*"],
    ["keys/id_ed25519", "id_ed25519*"],
    [".npmrc", ".npmrc"],
    ["project.npmrc", undefined],
    ["a/.pypirc", ".pypirc"],
    [".netrc", ".netrc"],
    [".git-credentials", ".git-credentials"],
    ["store/client.p12", "*.p12"],
    ["store/client.pfx", "*.pfx"],
    ["private.key", "*.key"],
    ["keyboard.ts", undefined],
    ["src/index.ts", undefined]
  ]
  it.each(table)("built-in: %s -> %s", (path, pattern) => {
    expect(denies(DEFAULT_DENY_PATTERNS, path)).toBe(pattern)
  })

  const org: ReadonlyArray<readonly [ReadonlyArray<string>, string, string | undefined]> = [
    [["secrets/*.txt"], "secrets/a.txt", "secrets/*.txt"],
    [["secrets/*.txt"], "x/secrets/a.txt", undefined],
    [["secrets/*.txt"], "secrets/sub/a.txt", undefined],
    [["**/secrets/**"], "a/b/secrets/c/d", "**/secrets/**"],
    [["**/secrets/**"], "secrets/c", "**/secrets/**"],
    [["**/secrets/**"], "secrets", undefined],
    [["/root-only.txt"], "root-only.txt", "/root-only.txt"],
    [["/root-only.txt"], "a/root-only.txt", undefined],
    [["vault/"], "a/vault/token", "vault/"],
    [["file?.txt"], "d/file1.txt", "file?.txt"],
    [["file?.txt"], "d/file10.txt", undefined],
    [["[abc].txt"], "b.txt", "[abc].txt"],
    [["[!abc].txt"], "b.txt", undefined],
    [["[!abc].txt"], "d.txt", "[!abc].txt"],
    [["[a-c]x"], "bx", "[a-c]x"],
    [["[a-c]x"], "dx", undefined],
    [["a+b(c).txt"], "q/a+b(c).txt", "a+b(c).txt"],
    [["a+b(c).txt"], "q/aab(c).txt", undefined],
    [["star\\*"], "star*", "star\\*"],
    [["star\\*"], "starry", undefined],
    [["config/**/*.json"], "config/prod.json", "config/**/*.json"],
    [["config/**/*.json"], "config/a/b/prod.json", "config/**/*.json"],
    [["config/**/*.json"], "other/config/prod.json", undefined],
    [["*"], "anything/at/all", "*"],
    // The first pattern in list order wins, whichever level of the path it matched at.
    [["*.pem", "certs"], "certs/a.pem", "*.pem"],
    [["certs", "*.pem"], "certs/a.pem", "certs"],
    [["b/c", "a"], "a/b/c/d", "a"],
    [["", "/"], "a", undefined]
  ]
  it.each(org)("%j: %s -> %s", (patterns, path, pattern) => {
    expect(denies(patterns, path)).toBe(pattern)
  })

  it("agrees with a reference matcher on generated patterns and paths", () => {
    const segmentChar = fc.constantFrom("a", "b", ".")
    const segment = fc.array(segmentChar, { minLength: 1, maxLength: 4 }).map((cs) => cs.join(""))
    const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join("/"))
    const globPiece = fc.constantFrom("a", "b", ".", "*", "?", "[ab]", "[!a]", "[a-b]")
    const globSegment = fc.oneof(
      { weight: 5, arbitrary: fc.array(globPiece, { minLength: 1, maxLength: 4 }).map((p) => p.join("")) },
      { weight: 1, arbitrary: fc.constant("**") }
    )
    const glob = fc.array(globSegment, { minLength: 1, maxLength: 3 }).map((s) => s.join("/"))
    fc.assert(fc.property(glob, path, (pattern, p) => {
      expect(denies([pattern], p) !== undefined).toBe(referenceDenies(pattern, p))
    }), { numRuns: 3000 })
  })

  it("the first match is the earliest matching pattern in list order, on generated lists", () => {
    const pattern = fc.constantFrom("a", "b", "*.x", "a/b", "**/b", "?", "b*", "a/**")
    const path = fc.array(fc.constantFrom("a", "b", "c.x", "b.x"), { minLength: 1, maxLength: 4 }).map((s) => s.join("/"))
    fc.assert(fc.property(fc.array(pattern, { maxLength: 5 }), path, (patterns, p) => {
      expect(denies(patterns, p)).toBe(patterns.find((candidate) => referenceDenies(candidate, p)))
    }), { numRuns: 2000 })
  })
})

describe("allowlist globs", () => {
  const allows = (patterns: ReadonlyArray<string>, path: string) => allowMatcher(patterns).firstMatch(path) !== undefined
  it.each([
    [["README.md"], "README.md", true],
    [["README.md"], "docs/README.md", false],
    [["src"], "src/a/b.ts", true],
    [["src"], "lib/src/b.ts", false],
    [["**/*.md"], "a/b/c.md", true],
    [["**/*.md"], "c.md", true],
    [["notes/**"], "notes/a", true],
    [["*.ts"], "a/b.ts", false],
    [[], "anything", false]
  ] as const)("%j allows %s: %s", (patterns, path, expected) => {
    expect(allows(patterns, path)).toBe(expected)
  })
})
