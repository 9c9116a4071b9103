import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { execFile } from "node:child_process"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { promisify } from "node:util"
import { parsePublicKey } from "../../src/crypto/KeyFile.js"
import { verifyBundle } from "../../src/receipt/Verify.js"

describe("npm start", () => {
  it.live("runs a governed run through an embedded plane and writes a bundle that verifies against the two keys it made", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "warrant-demo-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
      )
      // Run from a scratch directory: the demo's .warrant/ lands there, not in the checkout.
      const { stdout } = yield* Effect.promise(() =>
        promisify(execFile)(process.execPath, ["--import", pathToFileURL(resolve("node_modules/tsx/dist/loader.mjs")).href, resolve("scripts/demo/main.ts")], { cwd: dir })
      )
      expect(stdout).toContain("is awaiting_approval")
      expect(stdout).toContain("approved by bob@example.com: queued")
      expect(stdout).toContain("verification VALID")

      const bundle: unknown = JSON.parse(yield* Effect.promise(() => readFile(join(dir, ".warrant/demo/bundle.json"), "utf8")))
      const keyOf = (name: string) =>
        Effect.promise(() => readFile(join(dir, `.warrant/keys/${name}.pub.json`), "utf8")).pipe(Effect.map((text) => Either.getOrThrow(parsePublicKey(text))))
      const plane = yield* keyOf("plane")
      const runner = yield* keyOf("runner")
      const verdict = verifyBundle(bundle, {
        trustedKeys: [{ keyId: plane.keyId, roles: ["issuer", "plane"] }, { keyId: runner.keyId, roles: ["runner"] }]
      })
      expect(verdict.problems).toEqual([])
      expect(verdict.valid).toBe(true)
    }).pipe(Effect.scoped))
})
