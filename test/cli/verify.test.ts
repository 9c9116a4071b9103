import { NodeContext } from "@effect/platform-node"
import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { run } from "../../src/cli/Cli.js"
import { renderPublicKeyFile } from "../../src/crypto/KeyFile.js"
import { generateKey } from "../../src/crypto/Ed25519.js"
import * as Signer from "../../src/crypto/Signer.js"
import { sampleRun } from "../../src/testkit/SampleRun.js"
import type { Json } from "../support/WireJson.js"

const dir = mkdtempSync(join(tmpdir(), "warrant-cli-"))
const write = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

/** Runs `warrant ARGS` in-process; returns the exit code it asks for and what it printed. */
const warrant = (...args: Array<string>) =>
  Effect.gen(function*() {
    const out: Array<string> = []
    const err: Array<string> = []
    const log = vi.spyOn(console, "log").mockImplementation((...a: Array<unknown>) => void out.push(a.join(" ")))
    const error = vi.spyOn(console, "error").mockImplementation((...a: Array<unknown>) => void err.push(a.join(" ")))
    const exit = yield* Effect.exit(run(["node", "warrant", ...args]).pipe(Effect.provide(NodeContext.layer)))
    log.mockRestore()
    error.mockRestore()
    const code = Exit.isSuccess(exit)
      ? 0
      : Exit.isFailure(exit) && exit.cause._tag === "Fail" && (exit.cause.error as { _tag?: string })._tag === "ExitCode"
      ? (exit.cause.error as unknown as { code: number }).code
      : -1
    return { code, stdout: out.join("\n"), stderr: err.join("\n") }
  })

const bundleFile = (mutate: (json: Json) => void = () => {}) =>
  Effect.map(sampleRun(), (r) => {
    const json = JSON.parse(JSON.stringify(r.bundle))
    mutate(json)
    return { path: write(`bundle-${Math.random().toString(36).slice(2)}.json`, JSON.stringify(json)), plane: r.plane, runner: r.runner }
  })

afterEach(() => vi.restoreAllMocks())

describe("warrant verify", () => {
  it.effect("a valid bundle exits 0, names its three signers and says trust was not checked", () =>
    Effect.gen(function*() {
      const { path, plane, runner } = yield* bundleFile()
      const result = yield* warrant("verify", path)
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(`contract      signed by ${plane.keyId} (issuer)`)
      expect(result.stdout).toContain(`receipt       signed by ${runner.keyId} (runner)`)
      expect(result.stdout).toContain(`countersign   signed by ${plane.keyId} (plane)`)
      expect(result.stdout).toContain("NOT CHECKED")
      expect(result.stdout).toContain("result        VALID")
    }))

  it.effect("with --trust by keyId and by public key file, a valid bundle exits 0 and says trust was checked", () =>
    Effect.gen(function*() {
      const { path, plane, runner } = yield* bundleFile()
      const runnerPub = write("runner.pub.json", renderPublicKeyFile(runner.record))
      const result = yield* warrant("verify", path, "--trust", plane.keyId, "--trust", runnerPub)
      expect(result.code).toBe(0)
      expect(result.stdout).toContain("trust         every signing key is one of the trusted keys, in a role it is trusted for")
      expect(result.stdout).not.toContain("NOT CHECKED")
    }))

  it.effect("a tampered bundle exits 1 and prints each problem", () =>
    Effect.gen(function*() {
      const { path } = yield* bundleFile((json) => {
        json.events[3].event.exitCode = 7
      })
      const result = yield* warrant("verify", path)
      expect(result.code).toBe(1)
      expect(result.stdout).toContain("result        INVALID: 1 problem")
      expect(result.stdout).toMatch(/- chain\.hash at \$\.events\[3\]: entry 3 claims hash sha256:[0-9a-f]{64}, but its content hashes to/)
    }))

  it.effect("with --trust-plane and --trust-runner, a valid bundle exits 0", () =>
    Effect.gen(function*() {
      const { path, plane, runner } = yield* bundleFile()
      const result = yield* warrant("verify", path, "--trust-plane", plane.keyId, "--trust-runner", runner.publicKey)
      expect(result.code).toBe(0)
      expect(result.stdout).toContain("result        VALID")
    }))

  it.effect("keys given in swapped roles exit 1: the runner key is not trusted to issue or countersign", () =>
    Effect.gen(function*() {
      const { path, plane, runner } = yield* bundleFile()
      const result = yield* warrant("verify", path, "--trust-plane", runner.keyId, "--trust-runner", plane.keyId, "--json")
      expect(result.code).toBe(1)
      expect(JSON.parse(result.stdout).problems.map((p: { code: string; where: string }) => `${p.code} @ ${p.where}`)).toEqual([
        "trust.untrusted-key @ $.contract.signatures[0]",
        "trust.untrusted-key @ $.receipt.signatures[0]",
        "trust.untrusted-key @ $.receipt.signatures[1]"
      ])
    }))

  it.effect("a signature by a key outside --trust exits 1 with trust.untrusted-key", () =>
    Effect.gen(function*() {
      const { path, plane } = yield* bundleFile()
      const stranger = Signer.make(Redacted.make(generateKey().secretKey))
      const result = yield* warrant("verify", path, "--trust", plane.keyId, "--trust", stranger.publicKey)
      expect(result.code).toBe(1)
      expect(result.stdout).toContain("- trust.untrusted-key at $.receipt.signatures[0]")
    }))

  it.effect("--json prints valid, problems and signers", () =>
    Effect.gen(function*() {
      const { path, plane, runner } = yield* bundleFile((json) => {
        json.receipt.signatures.pop()
      })
      const result = yield* warrant("verify", path, "--json")
      expect(result.code).toBe(1)
      expect(JSON.parse(result.stdout)).toEqual({
        valid: false,
        problems: [{ where: "$.receipt.signatures", code: "receipt.countersignature-missing", message: "the receipt carries no plane countersignature" }],
        signers: { contract: plane.keyId, receipt: runner.keyId, countersignature: null },
        trustChecked: false
      })
    }))

  it.effect("a file that is not JSON exits 2", () =>
    Effect.gen(function*() {
      const result = yield* warrant("verify", write("garbage.json", "{not json"))
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("is not JSON")
    }))

  it.effect("JSON that is not a bundle exits 2", () =>
    Effect.gen(function*() {
      const result = yield* warrant("verify", write("other.json", JSON.stringify({ hello: "world" })))
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("is not a receipt bundle")
    }))

  it.effect("a bundle of a future major version exits 2 and says to upgrade", () =>
    Effect.gen(function*() {
      const { path } = yield* bundleFile((json) => {
        json.version = "warrant.bundle.v2"
      })
      const result = yield* warrant("verify", path)
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("warrant.bundle.v2")
      expect(result.stderr).toContain("upgrade warrant")
    }))

  it.effect("a missing file exits 2", () =>
    Effect.gen(function*() {
      const result = yield* warrant("verify", join(dir, "nope.json"))
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("cannot read")
    }))

  it.effect("an unreadable --trust argument exits 2 and says what a trusted key may be", () =>
    Effect.gen(function*() {
      const { path } = yield* bundleFile()
      const result = yield* warrant("verify", path, "--trust", "not-a-key")
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("--trust not-a-key: no such file")
      expect(result.stderr).toContain("pass a keyId")
    }))
})

describe("the warrant binary", () => {
  // One real process per exit status, to prove main.ts turns commands' results into exit codes.
  const bin = (...args: Array<string>) =>
    promisify(execFile)(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { cwd: process.cwd() }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr })
    )

  it.effect("exits 0, 1 and 2 as documented", () =>
    Effect.gen(function*() {
      const good = yield* bundleFile()
      const bad = yield* bundleFile((json) => {
        json.receipt.eventCount = 1
      })
      const [valid, invalid, notJson, usage] = yield* Effect.promise(() =>
        Promise.all([bin("verify", good.path), bin("verify", bad.path), bin("verify", write("x.json", "nope")), bin("verify")])
      )
      expect(valid.code).toBe(0)
      expect(invalid.code).toBe(1)
      expect(invalid.stdout).toContain("receipt.count-mismatch")
      expect(notJson.code).toBe(2)
      expect(usage.code).toBe(2)
    }), 60_000)
})
