import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { makeUidPool } from "../../src/backends/UidPool.js"
import { dead } from "./support/Sessions.js"

const dirs: Array<string> = []
const lockDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "warrant-uidpool-"))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A pid no process has: the highest pids are far above anything running here. */
const deadPid = (): number => {
  for (let pid = 4_000_000; pid > 3_000_000; pid--) if (dead(pid)) return pid
  throw new Error("no free pid found")
}

describe("UidPool", () => {
  it.effect("two runners sharing the lock directory never lend the same uid; release frees it for either", () =>
    Effect.gen(function*() {
      const dir = lockDir()
      const a = makeUidPool({ first: 500_000, count: 3 }, dir)
      const b = makeUidPool({ first: 500_000, count: 3 }, dir)
      const scope = yield* Scope.make()
      const first = yield* Scope.extend(a.lend, scope)
      const second = yield* Scope.extend(b.lend, scope)
      const third = yield* Scope.extend(a.lend, scope)
      expect([first, second, third]).toEqual([500_000, 500_001, 500_002])
      expect(readFileSync(join(dir, "500001"), "utf8")).toBe(String(process.pid))
      // The range is exhausted for both.
      expect(yield* Effect.scoped(b.lend)).toBeUndefined()
      yield* Scope.close(scope, Exit.void)
      expect(existsSync(join(dir, "500000"))).toBe(false)
      expect(yield* Effect.scoped(b.lend)).toBe(500_000)
    }))

  it.effect("a lock left by a runner that died is taken over; one held by a live process is skipped", () =>
    Effect.gen(function*() {
      const dir = lockDir()
      writeFileSync(join(dir, "600000"), String(process.ppid)) // alive: the test runner's parent
      writeFileSync(join(dir, "600001"), String(deadPid()))
      const pool = makeUidPool({ first: 600_000, count: 2 }, dir)
      const uid = yield* Effect.scoped(Effect.tap(pool.lend, () =>
        Effect.sync(() => expect(readFileSync(join(dir, "600001"), "utf8")).toBe(String(process.pid)))))
      expect(uid).toBe(600_001)
      expect(readFileSync(join(dir, "600000"), "utf8")).toBe(String(process.ppid))
    }))

  it.effect("an unusable lock directory lends nothing (the session is then refused), never an unlocked uid", () =>
    Effect.gen(function*() {
      const file = join(lockDir(), "not-a-directory")
      writeFileSync(file, "")
      expect(yield* Effect.scoped(makeUidPool({ first: 700_000, count: 4 }, file).lend)).toBeUndefined()
    }))
})
