import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fc from "fast-check"
import { quote, sessionScript } from "../../src/backends/ShellQuote.js"
import { argv, sh } from "./support/Sessions.js"

/** What the system's POSIX sh makes of a script. */
const runSh = (script: string) => execFileSync("sh", ["-c", script], { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" } })

/** Any text a shell string can hold (no NUL), with the characters a shell treats specially well represented. */
const shellText = fc.string({
  unit: fc.oneof(
    fc.constantFrom("'", "\"", "`", "$", "\\", "\n", "!", "*", "?", "~", "(", ")", ";", "&", "|", "<", ">", "{", "}", " ", "\t", "#"),
    fc.string({ minLength: 1, maxLength: 1, unit: "grapheme" })
  ),
  maxLength: 40
}).filter((s) => !s.includes("\0"))

describe("POSIX single-quote quoting", () => {
  it("the system sh reads every quoted string back exactly", () => {
    fc.assert(fc.property(shellText, (text) => {
      expect(runSh(`printf '%s' ${quote(text)}`)).toBe(text)
    }), { numRuns: 150 })
  })

  it("an embedded quote is closed, escaped and reopened", () => {
    expect(quote("it's")).toBe(`'it'\\''s'`)
    expect(quote("")).toBe("''")
  })
})

describe("the session script", () => {
  it("enters the directory, exports the environment inertly, and execs the command", () => {
    const script = sessionScript({ cwd: "/vm/work dir", env: { A: "$HOME `id` 'q' \"d\"\nline2" }, command: argv("printf", "%s|", "$A") })
    expect(script).toEqual(Either.right([
      "mkdir -p -- '/vm/work dir' && cd -- '/vm/work dir' || exit 1",
      `export A='$HOME \`id\` '\\''q'\\'' "d"\nline2'`,
      "exec 'printf' '%s|' '$A'",
      ""
    ].join("\n")))
  })

  it("values survive the system sh exactly, whatever they hold", () => {
    fc.assert(fc.property(shellText, shellText, (a, b) => {
      const dir = mkdtempSync(join(tmpdir(), "warrant-quote-"))
      const script = Either.getOrThrow(sessionScript({ cwd: `${dir}/sub`, env: { A: a, B_2: b }, command: sh(`printf '%s|%s|' "$A" "$B_2"; pwd`) }))
      expect(runSh(script)).toBe(`${a}|${b}|${dir}/sub\n`)
      rmSync(dir, { recursive: true, force: true })
    }), { numRuns: 40 })
  })

  it("refuses a name that is not a shell name, and NUL bytes, without echoing the value", () => {
    expect(sessionScript({ cwd: "/w", env: { "A;rm -rf /": "v" }, command: argv("true") }))
      .toEqual(Either.left("the variable name \"A;rm -rf /\" is not a valid shell name"))
    expect(sessionScript({ cwd: "/w", env: { TOKEN: "sec\0ret-value" }, command: argv("true") }))
      .toEqual(Either.left("the value of TOKEN contains a NUL byte"))
    expect(sessionScript({ cwd: "/w", env: {}, command: argv("echo", "a\0b") })).toEqual(Either.left("the command contains a NUL byte"))
    expect(sessionScript({ cwd: "/w\0", env: {}, command: argv("true") })).toEqual(Either.left("the working directory contains a NUL byte"))
  })
})
