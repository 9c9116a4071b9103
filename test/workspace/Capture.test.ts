import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, Option } from "effect"
import { manifestHash } from "../../src/protocol/Digest.js"
import { sha256 } from "../../src/protocol/Hash.js"
import { decodeManifest } from "../../src/protocol/Manifest.js"
import { memoryStore } from "../../src/workspace/Blobs.js"
import { capture, DEFAULT_DENY_PATTERNS } from "../../src/workspace/Capture.js"
import * as Git from "../../src/workspace/Git.js"
import { blobText, bundleContents } from "./support/Capture.js"
import { binaryBytes, commitAll, git, link, repoWith, sha256Of, tempDir, write } from "./support/GitRepo.js"

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  return Option.getOrThrowWith(Cause.failureOption(exit.cause), () => new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`))
}

describe("capture of a git working tree", () => {
  it.scoped("a clean repository: every file with its hash, executable bit and the base commit; no diff", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "README.md": "hello\n", "src/a.ts": "export const a = 1\n", "bin/data.bin": binaryBytes(1) })
      write(dir, "run.sh", "#!/bin/sh\necho hi\n", 0o755)
      const head = yield* commitAll(dir, "script")
      expect(head).not.toBe(base)
      const store = memoryStore()
      const manifest = yield* capture(dir, {}, store.sink)

      expect(manifest.source).toBe("git")
      expect(manifest.baseRef).toBe(head)
      expect(manifest.dirtyDiff).toBeUndefined()
      expect(manifest.denied).toEqual([])
      expect(manifest.deniedPatterns).toEqual(DEFAULT_DENY_PATTERNS)
      expect(manifest.files).toEqual([
        { path: "README.md", hash: sha256Of("hello\n"), size: 6 },
        { path: "bin/data.bin", hash: sha256Of(binaryBytes(1)), size: 4096 },
        { path: "run.sh", hash: sha256Of("#!/bin/sh\necho hi\n"), size: 18, executable: true },
        { path: "src/a.ts", hash: sha256Of("export const a = 1\n"), size: 19 }
      ])
      // The manifest is a valid wire object, and what capture returned is what decodes.
      const decoded = decodeManifest(JSON.parse(JSON.stringify(manifest)))
      expect(Either.isRight(decoded) && manifestHash(decoded.right)).toBe(manifestHash(manifest))
      expect(store.blobs.size).toBe(1)
      expect(store.blobs.has(manifest.bundle!.hash)).toBe(true)
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("the bundle carries one parentless snapshot commit, not the history: a secret committed and later deleted is not in it", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ "app.txt": "v1\n", "old-secret.txt": "TOPSECRET-HISTORY-7781\n" })
      rmSync(join(dir, "old-secret.txt"))
      write(dir, "app.txt", "v2\n")
      const head = yield* commitAll(dir, "remove the secret")
      const store = memoryStore()
      const manifest = yield* capture(dir, {}, store.sink)
      const bundle = yield* bundleContents(store, manifest.bundle!.hash)

      expect(bundle.objects.includes("TOPSECRET-HISTORY-7781")).toBe(false)
      expect(bundle.objects.includes("v1\n")).toBe(false)
      expect(bundle.commits).toHaveLength(1)
      const [snapshot, ...parents] = bundle.commits[0]!.split(" ")
      expect(parents).toEqual([])
      expect(snapshot).not.toBe(head)
      expect(bundle.refs).toBe(`refs/warrant/snapshot ${snapshot}`)
      expect(manifest.files.map((f) => f.path)).toEqual(["app.txt"])
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("secrets are denied and recorded, tracked and untracked, at every depth; absent from the bundle and the diff", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({
        ".env": "TRACKED_ENV_SECRET=1\n",
        "deploy/tls/server.pem": "PEM-SECRET-CONTENT\n",
        "a/b/.env.local": "NESTED_ENV_SECRET\n",
        "src/main.ts": "console.log(1)\n"
      })
      // A denied tracked file changed in the working tree: its new content must not ship either.
      write(dir, ".env", "TRACKED_ENV_SECRET=2-DIRTY\n")
      write(dir, "src/main.ts", "console.log(2)\n")
      write(dir, ".npmrc", "//registry/:_authToken=UNTRACKED-NPM-TOKEN\n")
      write(dir, "keys/deploy.key", "UNTRACKED-KEY\n")
      write(dir, "notes.md", "ship me\n")
      const store = memoryStore()
      const manifest = yield* capture(dir, { allowUntracked: ["**"] }, store.sink)

      expect(manifest.denied).toEqual([
        { path: ".env", pattern: ".env*" },
        { path: ".npmrc", pattern: ".npmrc" },
        { path: "a/b/.env.local", pattern: ".env*" },
        { path: "deploy/tls/server.pem", pattern: "*.pem" },
        { path: "keys/deploy.key", pattern: "*.key" }
      ])
      expect(manifest.files.map((f) => f.path).sort()).toEqual(["notes.md", "src/main.ts"])
      expect(manifest.files.find((f) => f.path === "notes.md")).toEqual({ path: "notes.md", hash: sha256Of("ship me\n"), size: 8, untracked: true })

      const bundle = yield* bundleContents(store, manifest.bundle!.hash)
      for (const secret of ["TRACKED_ENV_SECRET", "PEM-SECRET-CONTENT", "NESTED_ENV_SECRET", "UNTRACKED"]) {
        expect(bundle.objects.includes(secret)).toBe(false)
      }
      const diff = blobText(store, manifest.dirtyDiff!.hash)
      expect(diff).toContain("+console.log(2)")
      expect(diff).not.toContain(".env")
      // Every stored blob together: none holds a secret.
      for (const bytes of store.blobs.values()) {
        const text = Buffer.from(bytes).toString("latin1")
        expect(["TRACKED_ENV_SECRET", "UNTRACKED", "NESTED_ENV", "PEM-SECRET"].some((s) => text.includes(s))).toBe(false)
      }
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("the organisation's patterns are added after the built-in ones and deny whole directories", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ "secrets/prod/db.txt": "x\n", "ops/vault.json": "y\n", "ok.txt": "z\n" })
      const manifest = yield* capture(dir, { denyPatterns: ["secrets", "ops/*.json"] }, memoryStore().sink)
      expect(manifest.deniedPatterns).toEqual([...DEFAULT_DENY_PATTERNS, "secrets", "ops/*.json"])
      expect(manifest.denied).toEqual([
        { path: "ops/vault.json", pattern: "ops/*.json" },
        { path: "secrets/prod/db.txt", pattern: "secrets" }
      ])
      expect(manifest.files.map((f) => f.path)).toEqual(["ok.txt"])
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("untracked files ship only when allowlisted, and ignored files never (nor are they listed as denied)", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ ".gitignore": "build/\n*.log\n", "src/a.ts": "a\n" })
      write(dir, "notes/todo.md", "todo\n")
      write(dir, "scratch.txt", "not allowlisted\n")
      write(dir, "build/out.js", "ignored\n")
      write(dir, "build/.env", "IGNORED_SECRET\n")
      write(dir, "debug.log", "ignored too\n")
      const store = memoryStore()
      const manifest = yield* capture(dir, { allowUntracked: ["notes/**", "build/**", "*.log"] }, store.sink)

      expect(manifest.files.map((f) => [f.path, f.untracked ?? false])).toEqual([
        [".gitignore", false],
        ["notes/todo.md", true],
        ["src/a.ts", false]
      ])
      expect(manifest.denied).toEqual([])
      expect(manifest.dirtyDiff).toBeUndefined()
      expect(store.blobs.has(sha256("todo\n"))).toBe(true)
      expect(store.blobs.has(sha256("not allowlisted\n"))).toBe(false)
      expect(store.blobs.has(sha256("ignored\n"))).toBe(false)
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("the dirty diff holds staged and unstaged changes: a deletion, a staged rename, a binary change, a mode change", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ "gone.txt": "bye\n", "old/name.txt": "moving\n".repeat(20), "img.bin": binaryBytes(2), "tool.sh": "echo\n" })
      rmSync(join(dir, "gone.txt"))
      mkdirSync(join(dir, "new"))
      yield* git(dir, "mv", "old/name.txt", "new/name.txt")
      write(dir, "img.bin", binaryBytes(3))
      write(dir, "tool.sh", "echo\n", 0o755)
      write(dir, "staged.txt", "staged\n")
      yield* git(dir, "add", "staged.txt")
      write(dir, "staged.txt", "staged then edited\n")
      const store = memoryStore()
      const manifest = yield* capture(dir, {}, store.sink)
      const diff = blobText(store, manifest.dirtyDiff!.hash)

      expect(diff).toContain("deleted file mode 100644")
      expect(diff).toContain("rename from old/name.txt")
      expect(diff).toContain("rename to new/name.txt")
      expect(diff).toContain("GIT binary patch")
      expect(diff).toContain("new mode 100755")
      expect(diff).toContain("+staged then edited")
      expect(manifest.files.map((f) => f.path)).toEqual(["img.bin", "new/name.txt", "staged.txt", "tool.sh"])
      expect(manifest.files.find((f) => f.path === "tool.sh")?.executable).toBe(true)
      expect(manifest.files.find((f) => f.path === "img.bin")?.hash).toBe(sha256Of(binaryBytes(3)))
      expect(manifest.files.find((f) => f.path === "staged.txt")?.hash).toBe(sha256Of("staged then edited\n"))
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("the repository is not written to: no object, ref or index change", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ "a.txt": "a\n", ".env": "S=1\n" })
      write(dir, "a.txt", "changed\n")
      write(dir, "new.txt", "new\n")
      const listing = () => ({
        objects: readdirSync(join(dir, ".git", "objects")).sort(),
        index: readFileSync(join(dir, ".git", "index")).toString("base64")
      })
      const before = listing()
      const refsBefore = yield* git(dir, "for-each-ref")
      yield* capture(dir, { allowUntracked: ["*.txt"] }, memoryStore().sink)
      expect(listing()).toEqual(before)
      expect(yield* git(dir, "for-each-ref")).toBe(refsBefore)
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("symlinks: one inside (even dangling) ships as a link; one leading out, tracked or allowlisted, is refused by name", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ "src/a.txt": "a\n" })
      link(dir, "inside", "src/a.txt")
      link(dir, "later", "build/not-yet")
      yield* commitAll(dir, "links")
      const manifest = yield* capture(dir, {}, memoryStore().sink)
      expect(manifest.files.find((f) => f.path === "inside")).toEqual({ path: "inside", hash: sha256Of("src/a.txt"), size: 9, symlink: true })

      link(dir, "docs/escape", "../../outside")
      yield* commitAll(dir, "escape")
      const tracked = failureOf(yield* Effect.exit(capture(dir, {}, memoryStore().sink)))
      expect(tracked._tag).toBe("CaptureFailed")
      expect(tracked.message).toContain("docs/escape is a symlink that cannot be shipped: it leads outside the tree")

      yield* git(dir, "rm", "-q", "docs/escape")
      yield* commitAll(dir, "fixed")
      link(dir, "etc", "/etc")
      // Not allowlisted: the untracked link is simply not shipped.
      expect((yield* capture(dir, {}, memoryStore().sink)).files.map((f) => f.path)).not.toContain("etc")
      const allowlisted = failureOf(yield* Effect.exit(capture(dir, { allowUntracked: ["etc"] }, memoryStore().sink)))
      expect(allowlisted.message).toContain(`etc is a symlink that cannot be shipped: its target "/etc" is absolute`)
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a repository with no commit is refused with what to do", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("empty")
      yield* git(dir, "init", "-q")
      write(dir, "a.txt", "a\n")
      const error = failureOf(yield* Effect.exit(capture(dir, {}, memoryStore().sink)))
      expect(error._tag).toBe("CaptureFailed")
      expect(error.message).toContain("the repository has no commit yet; commit at least once, or capture it as a plain directory with a file allowlist")
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a submodule with uncommitted changes is refused by name; a clean one is kept as a gitlink, not as files", () =>
    Effect.gen(function*() {
      const { dir: sub } = yield* repoWith({ "lib.txt": "lib\n" })
      const { dir } = yield* repoWith({ "main.txt": "main\n" })
      yield* Effect.flatMap(Git.Git, (g) => g.run(dir, ["-c", "protocol.file.allow=always", "submodule", "add", "-q", sub, "vendor/lib"]))
      yield* commitAll(dir, "submodule")
      const clean = yield* capture(dir, {}, memoryStore().sink)
      expect(clean.files.map((f) => f.path)).toEqual([".gitmodules", "main.txt"])

      write(join(dir, "vendor/lib"), "lib.txt", "edited\n")
      const error = failureOf(yield* Effect.exit(capture(dir, {}, memoryStore().sink)))
      expect(error.message).toContain("the submodule vendor/lib has uncommitted changes or a moved HEAD; commit them in the submodule and in this repository, or clean it")
    }).pipe(Effect.provide(Git.layer)))
})

describe("capture of a plain directory", () => {
  it.scoped("without a file allowlist it is refused; with one, only the listed regular files ship, and denied paths are recorded", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("plain")
      write(dir, "src/a.ts", "a\n")
      write(dir, "src/deep/b.ts", "b\n", 0o755)
      write(dir, "src/.env", "PLAIN_SECRET\n")
      write(dir, "other.txt", "not listed\n")
      write(dir, "id_rsa", "KEY\n")

      const refused = failureOf(yield* Effect.exit(capture(dir, {}, memoryStore().sink)))
      expect(refused._tag).toBe("CaptureFailed")
      expect(refused.message).toContain("it is not the root of a git repository; capture it with an explicit file allowlist (files)")

      const store = memoryStore()
      const manifest = yield* capture(dir, { files: ["src", "id_rsa"] }, store.sink)
      expect(manifest).toEqual({
        version: "warrant.manifest.v1",
        source: "directory",
        files: [
          { path: "src/a.ts", hash: sha256Of("a\n"), size: 2, untracked: true },
          { path: "src/deep/b.ts", hash: sha256Of("b\n"), size: 2, executable: true, untracked: true }
        ],
        denied: [{ path: "id_rsa", pattern: "id_rsa*" }, { path: "src/.env", pattern: ".env*" }],
        deniedPatterns: DEFAULT_DENY_PATTERNS
      })
      expect([...store.blobs.keys()].sort()).toEqual([sha256Of("a\n"), sha256Of("b\n")].sort())
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a subdirectory of a repository is not the repository: it needs an allowlist like every plain directory", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ "pkg/a.txt": "a\n", "top.txt": "t\n" })
      const error = failureOf(yield* Effect.exit(capture(join(dir, "pkg"), {}, memoryStore().sink)))
      expect(error.message).toContain("not the root of a git repository")
      const manifest = yield* capture(join(dir, "pkg"), { files: ["**"] }, memoryStore().sink)
      expect(manifest.files.map((f) => f.path)).toEqual(["a.txt"])
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("an allowlisted symlink is refused; a glob that reaches outside is refused before anything is read", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("plain")
      write(dir, "a.txt", "a\n")
      link(dir, "out", "../elsewhere")
      const escaping = failureOf(yield* Effect.exit(capture(dir, { files: ["**"] }, memoryStore().sink)))
      expect(escaping.message).toContain("out is a symlink that cannot be shipped: it leads outside the tree")
      const glob = failureOf(yield* Effect.exit(capture(dir, { files: ["../x/**"] }, memoryStore().sink)))
      expect(glob.message).toContain(`the files glob "../x/**" is empty, absolute or has a '..' segment`)
      expect((yield* capture(dir, { files: ["a.txt"] }, memoryStore().sink)).files.map((f) => f.path)).toEqual(["a.txt"])
    }).pipe(Effect.provide(Git.layer)))
})
