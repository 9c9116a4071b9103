import { readdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Scope } from "effect"
import { sha256 } from "../../src/protocol/Hash.js"
import type { Manifest, ManifestFile } from "../../src/protocol/Manifest.js"
import type { WorkspacePath } from "../../src/protocol/WorkspacePath.js"
import { type MemoryStore, memoryStore } from "../../src/workspace/Blobs.js"
import { capture } from "../../src/workspace/Capture.js"
import * as Git from "../../src/workspace/Git.js"
import { materialize } from "../../src/workspace/Materialize.js"
import { treeOf, without } from "./support/Capture.js"
import { binaryBytes, commitAll, git, link, repoWith, tempDir, write } from "./support/GitRepo.js"

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  return Option.getOrThrowWith(Cause.failureOption(exit.cause), () => new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`))
}

/** Materialises under a parent of its own, so a test can see that a failure leaves nothing behind. */
const materializeIn = (manifest: Manifest, store: MemoryStore) =>
  Effect.gen(function*() {
    const parent = yield* tempDir("parent")
    const exit = yield* Effect.exit(materialize(manifest, store.fetch, { parent }))
    return { exit, leftovers: readdirSync(parent) }
  })

/** A store holding a hand-made bundle whose one commit has `files` (links as `{ link }`): what a hostile plane could send. */
const craftedBundle = (files: Record<string, string | { link: string }>) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("craft")
    yield* git(dir, "init", "-q")
    for (const [path, content] of Object.entries(files)) {
      if (typeof content === "string") write(dir, path, content)
      else link(dir, path, content.link)
    }
    const commit = yield* commitAll(dir, "crafted")
    yield* git(dir, "update-ref", "refs/warrant/snapshot", commit)
    yield* git(dir, "bundle", "create", "-q", join(dir, "b.bundle"), "refs/warrant/snapshot")
    const store = memoryStore()
    const bundle = yield* store.sink.putFile(join(dir, "b.bundle"))
    const entries: Array<ManifestFile> = Object.entries(files).map(([path, content]) => {
      const bytes = typeof content === "string" ? content : content.link
      return { path: path as WorkspacePath, hash: sha256(bytes), size: Buffer.byteLength(bytes), ...(typeof content === "string" ? {} : { symlink: true }) }
    })
    const manifest: Manifest = { version: "warrant.manifest.v1", source: "git", baseRef: commit, bundle, files: entries, denied: [], deniedPatterns: [] }
    return { store, manifest }
  })

const untrackedFile = (store: MemoryStore, path: string, content: string) =>
  Effect.map(store.sink.put(Buffer.from(content)), (ref): ManifestFile => ({ path: path as WorkspacePath, ...ref, untracked: true }))

describe("materialise", () => {
  it.scoped("round trip: capture then materialise gives the same tree, byte for byte, with the changes uncommitted on the snapshot", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({
        "README.md": "hello\n",
        "src/a.ts": "export const a = 1\n",
        "src/b.ts": "export const b = 2\n",
        "assets/logo.bin": binaryBytes(1, 20_000),
        "old/name.txt": "moving\n".repeat(20),
        "gone.txt": "bye\n",
        ".env": "SECRET=1\n",
        ".gitignore": "dist/\n",
        "weird name\twith tab.txt": "tab\n"
      })
      write(dir, "bin/tool", "#!/bin/sh\n", 0o755)
      link(dir, "docs/readme-link", "../README.md")
      yield* commitAll(dir, "more")
      // Dirty state: edits, a deletion, a staged rename, a binary change, a mode change, a new staged file.
      write(dir, "src/a.ts", "export const a = 42\n")
      rmSync(join(dir, "gone.txt"))
      write(dir, "new/.keep", "")
      yield* git(dir, "mv", "old/name.txt", "new/name.txt")
      write(dir, "assets/logo.bin", binaryBytes(2, 20_000))
      write(dir, "src/b.ts", "export const b = 2\n", 0o755)
      write(dir, "added.txt", "added\n")
      yield* git(dir, "add", "added.txt", "new/.keep")
      write(dir, "notes/todo.md", "todo\n")
      write(dir, "notes/run.sh", "#!/bin/sh\n", 0o755)
      write(dir, "notes/blob.bin", binaryBytes(3, 5000))
      write(dir, "scratch.txt", "not allowlisted\n")
      write(dir, "dist/out.js", "ignored\n")

      const store = memoryStore()
      const manifest = yield* capture(dir, { allowUntracked: ["notes/**"] }, store.sink)
      const { directory, startRef } = yield* materialize(manifest, store.fetch)

      expect(treeOf(directory)).toEqual(without(treeOf(dir), [".env", "scratch.txt", "dist/out.js"]))
      expect(yield* git(directory, "rev-parse", "HEAD")).toBe(startRef)
      expect(yield* git(directory, "rev-list", "--parents", "HEAD")).toBe(startRef)
      expect(startRef).not.toBe(manifest.baseRef)
      // The shipped changes are the session's starting point, not part of its history.
      const status = (yield* Effect.flatMap(Git.Git, (g) => g.run(directory, ["status", "--porcelain", "--untracked-files=all"])))
        .stdout.toString("utf8").split("\n").filter((line) => line !== "").sort()
      expect(status).toEqual([
        " D gone.txt",
        " D old/name.txt",
        " M assets/logo.bin",
        " M src/a.ts",
        " M src/b.ts",
        "?? added.txt",
        "?? new/.keep",
        "?? new/name.txt",
        "?? notes/blob.bin",
        "?? notes/run.sh",
        "?? notes/todo.md"
      ])
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("round trip of a plain directory: the listed files, committed as the start", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("plain")
      write(dir, "a.txt", "a\n")
      write(dir, "sub/tool.sh", "#!/bin/sh\n", 0o755)
      write(dir, "sub/data.bin", binaryBytes(4))
      write(dir, "left-out.txt", "no\n")
      const store = memoryStore()
      const manifest = yield* capture(dir, { files: ["a.txt", "sub"] }, store.sink)
      const { directory, startRef } = yield* materialize(manifest, store.fetch)
      expect(treeOf(directory)).toEqual(without(treeOf(dir), ["left-out.txt"]))
      expect(yield* git(directory, "rev-parse", "HEAD")).toBe(startRef)
      expect(yield* git(directory, "status", "--porcelain")).toBe("")
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a plain directory's bytes survive a .gitattributes that asks git to convert line endings", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("plain")
      write(dir, ".gitattributes", "* text eol=crlf\n")
      write(dir, "crlf.txt", "one\r\ntwo\r\n")
      write(dir, "lf.txt", "one\ntwo\n")
      const store = memoryStore()
      const manifest = yield* capture(dir, { files: ["**"] }, store.sink)
      const { directory } = yield* materialize(manifest, store.fetch)
      expect(treeOf(directory)).toEqual(treeOf(dir))
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a manifest listing a path twice is refused", () =>
    Effect.gen(function*() {
      const { store, manifest } = yield* craftedBundle({ "a.txt": "a\n" })
      const { exit, leftovers } = yield* materializeIn({ ...manifest, files: [...manifest.files, ...manifest.files] }, store)
      expect(failureOf(exit)).toMatchObject({ _tag: "MaterializeFailed", reason: `the manifest lists "a.txt" twice` })
      expect(leftovers).toEqual([])
    }).pipe(Effect.provide(Git.layer)))

  it.effect("the directory is removed when the scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const outcome = yield* Effect.gen(function*() {
        const { dir: repo } = yield* repoWith({ "a.txt": "a\n", "b/c.txt": "c\n" })
        const store = memoryStore()
        const manifest = yield* capture(repo, {}, store.sink)
        return yield* materialize(manifest, store.fetch)
      }).pipe(Scope.extend(scope))
      expect(readFileSync(join(outcome.directory, "b/c.txt"), "utf8")).toBe("c\n")
      yield* Scope.close(scope, Exit.void)
      expect(() => readdirSync(outcome.directory)).toThrow()
    }).pipe(Effect.provide(Git.layer)))

  describe("a tampered blob is refused and nothing is left behind", () => {
    const setup = Effect.gen(function*() {
      const { dir } = yield* repoWith({ "a.txt": "a\n" })
      write(dir, "a.txt", "dirty\n")
      write(dir, "u/new.txt", "untracked\n")
      const store = memoryStore()
      const manifest = yield* capture(dir, { allowUntracked: ["u/**"] }, store.sink)
      return { store, manifest }
    })

    for (const [what, pick] of [
      ["the bundle", (m: Manifest) => m.bundle!.hash],
      ["the dirty diff", (m: Manifest) => m.dirtyDiff!.hash],
      ["the file u/new.txt", (m: Manifest) => m.files.find((f) => f.path === "u/new.txt")!.hash]
    ] as const) {
      it.scoped(what, () =>
        Effect.gen(function*() {
          const { store, manifest } = yield* setup
          const hash = pick(manifest)
          const bytes = Buffer.from(store.blobs.get(hash)!)
          bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0x01
          store.blobs.set(hash, bytes)
          const { exit, leftovers } = yield* materializeIn(manifest, store)
          const error = failureOf(exit)
          expect(error._tag).toBe("BlobMismatch")
          expect(error).toMatchObject({ what, expected: `${hash} (${bytes.length} bytes)` })
          expect(leftovers).toEqual([])
        }).pipe(Effect.provide(Git.layer)))
    }
  })

  describe("paths that escape are refused before anything is written", () => {
    for (const path of ["../x", "/etc/x", "a/../../x", ".git/config", ".GIT/hooks/post-checkout"]) {
      it.scoped(JSON.stringify(path), () =>
        Effect.gen(function*() {
          const { store, manifest } = yield* craftedBundle({ "a.txt": "a\n" })
          const evil = yield* untrackedFile(store, "placeholder", "x\n")
          const { exit, leftovers } = yield* materializeIn({ ...manifest, files: [...manifest.files, { ...evil, path: path as WorkspacePath }] }, store)
          const error = failureOf(exit)
          expect(error._tag).toBe("PathEscape")
          expect(error).toMatchObject({ path })
          expect(leftovers).toEqual([])
        }).pipe(Effect.provide(Git.layer)))
    }

    for (const target of ["..", "/tmp"]) {
      it.scoped(`a file under a symlink the bundle planted (link -> ${target})`, () =>
        Effect.gen(function*() {
          const { store, manifest } = yield* craftedBundle({ "a.txt": "a\n", link: { link: target } })
          const through = yield* untrackedFile(store, "link/x", "planted\n")
          // The link is left out of the listed files, so only the placement's own check stands
          // between the untracked file and the outside (listing both is refused even earlier).
          const files = [...manifest.files.filter((file) => file.path !== "link"), through]
          const { exit, leftovers } = yield* materializeIn({ ...manifest, files }, store)
          const error = failureOf(exit)
          expect(error._tag).toBe("PathEscape")
          expect(error.message).toContain("link is a symlink leading outside the workspace")
          expect(leftovers).toEqual([])
        }).pipe(Effect.provide(Git.layer)))
    }

    it.scoped("a symlink the bundle planted that leads outside, even with nothing written through it", () =>
      Effect.gen(function*() {
        const { store, manifest } = yield* craftedBundle({ "a.txt": "a\n", "deep/link": { link: "../.." } })
        const { exit, leftovers } = yield* materializeIn(manifest, store)
        expect(failureOf(exit)).toMatchObject({ _tag: "PathEscape", path: "deep/link", reason: "it is a symlink and it leads outside the tree" })
        expect(leftovers).toEqual([])
      }).pipe(Effect.provide(Git.layer)))
  })

  describe("the materialised tree must be exactly the manifest's", () => {
    it.scoped("a manifest listing a file the tree lacks", () =>
      Effect.gen(function*() {
        const { store, manifest } = yield* craftedBundle({ "a.txt": "a\n" })
        const ghost: ManifestFile = { path: "ghost.txt" as WorkspacePath, hash: sha256("boo"), size: 3 }
        const { exit, leftovers } = yield* materializeIn({ ...manifest, files: [...manifest.files, ghost] }, store)
        expect(failureOf(exit)).toMatchObject({
          _tag: "MaterializeFailed",
          reason: `the manifest lists "ghost.txt", which the bundle, the dirty diff and the untracked files do not produce`
        })
        expect(leftovers).toEqual([])
      }).pipe(Effect.provide(Git.layer)))

    it.scoped("a file whose content differs from the manifest's hash", () =>
      Effect.gen(function*() {
        const { store, manifest } = yield* craftedBundle({ "a.txt": "a\n", "b.txt": "b\n" })
        const files = manifest.files.map((f) => f.path === "b.txt" ? { ...f, hash: sha256("B\n") } : f)
        const { exit } = yield* materializeIn({ ...manifest, files }, store)
        expect(failureOf(exit)).toMatchObject({ _tag: "MaterializeFailed" })
        expect(failureOf(exit).message).toContain(`"b.txt" materialised as ${sha256("b\n")} (2 bytes), but the manifest says ${sha256("B\n")} (2 bytes)`)
      }).pipe(Effect.provide(Git.layer)))

    it.scoped("a file the bundle has that the manifest does not list, or with another executable bit", () =>
      Effect.gen(function*() {
        const { store, manifest } = yield* craftedBundle({ "a.txt": "a\n", "extra.txt": "e\n" })
        const extra = yield* materializeIn({ ...manifest, files: manifest.files.filter((f) => f.path !== "extra.txt") }, store)
        expect(failureOf(extra.exit)).toMatchObject({ reason: `the materialised tree has "extra.txt", which the manifest does not list` })
        const mode = yield* materializeIn({ ...manifest, files: manifest.files.map((f) => ({ ...f, executable: true })) }, store)
        expect(failureOf(mode.exit)).toMatchObject({ reason: `"a.txt" is not executable, unlike in the manifest` })
      }).pipe(Effect.provide(Git.layer)))

    it.scoped("a manifest that ships a path its own deny patterns refuse", () =>
      Effect.gen(function*() {
        const { store, manifest } = yield* craftedBundle({ "a.txt": "a\n", ".env": "S=1\n" })
        const { exit } = yield* materializeIn(manifest, store)
        expect(failureOf(exit)).toMatchObject({ _tag: "MaterializeFailed", reason: `the manifest ships ".env", which its deny pattern ".env*" refuses` })
      }).pipe(Effect.provide(Git.layer)))

    it.scoped("an untracked file that collides with one the bundle made", () =>
      Effect.gen(function*() {
        const { store, manifest } = yield* craftedBundle({ "a.txt": "a\n", "b.txt": "b\n" })
        const collide = yield* untrackedFile(store, "b.txt", "again\n")
        const files = [...manifest.files.filter((f) => f.path !== "b.txt"), collide]
        const { exit, leftovers } = yield* materializeIn({ ...manifest, files }, store)
        expect(failureOf(exit)).toMatchObject({ _tag: "MaterializeFailed", reason: `the untracked file "b.txt" is already in the tree the bundle and diff made` })
        expect(leftovers).toEqual([])
      }).pipe(Effect.provide(Git.layer)))

    it.scoped("a blob the store does not have is the store's error, and nothing is left behind", () =>
      Effect.gen(function*() {
        const { store, manifest } = yield* craftedBundle({ "a.txt": "a\n" })
        store.blobs.delete(manifest.bundle!.hash)
        const { exit, leftovers } = yield* materializeIn(manifest, store)
        expect(failureOf(exit)).toMatchObject({ _tag: "BlobNotFound", hash: manifest.bundle!.hash })
        expect(leftovers).toEqual([])
      }).pipe(Effect.provide(Git.layer)))
  })
})

// Keeps the helper honest: a crafted bundle materialises when its manifest is right.
describe("crafted bundles", () => {
  it.scoped("materialise when the manifest matches them", () =>
    Effect.gen(function*() {
      const { store, manifest } = yield* craftedBundle({ "a.txt": "a\n", "in/link": { link: "../a.txt" } })
      const { directory } = yield* materialize(manifest, store.fetch)
      expect(treeOf(directory)).toEqual({ "a.txt": `- ${sha256("a\n").slice(7)}`, "in/link": "link ../a.txt" })
    }).pipe(Effect.provide(Git.layer)))
})
