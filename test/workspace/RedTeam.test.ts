/**
 * Red-team tests for the workspace module: each test is one attack on capture, materialise,
 * collectOutput or pull, run with real git in temp dirs; every one holds (those that first broke
 * through were fixed: a .git redirect or FIFO in collect, a renamed denied file, link fidelity).
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { sha256 } from "../../src/protocol/Hash.js"
import type { Manifest, ManifestFile } from "../../src/protocol/Manifest.js"
import type { WorkspacePath } from "../../src/protocol/WorkspacePath.js"
import { type MemoryStore, memoryStore } from "../../src/workspace/Blobs.js"
import { capture } from "../../src/workspace/Capture.js"
import * as Git from "../../src/workspace/Git.js"
import { materialize } from "../../src/workspace/Materialize.js"
import { collectOutput } from "../../src/workspace/Output.js"
import { pull } from "../../src/workspace/Pull.js"
import { treeOf } from "./support/Capture.js"
import { cloneOf, commitAll, git, link, read, repoWith, sha256Of, snapshot, tempDir, write } from "./support/GitRepo.js"

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  return Option.getOrThrowWith(Cause.failureOption(exit.cause), () => new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`))
}

const enc = (text: string) => new TextEncoder().encode(text)

/** Everything a pull could change: the working tree, the index bytes, HEAD and every ref. */
const localState = (dir: string) =>
  Effect.gen(function*() {
    return {
      tree: snapshot(dir),
      index: sha256Of(readFileSync(join(dir, ".git/index"))),
      head: yield* git(dir, "rev-parse", "HEAD"),
      refs: yield* git(dir, "for-each-ref", "--format=%(refname) %(objectname)")
    }
  })

/** A hand-made bundle (one commit of `files`) and its correct manifest, plus a dirty diff if given. */
const crafted = (files: Record<string, string | { link: string }>, dirtyDiff?: string, extra: ReadonlyArray<ManifestFile> = []) =>
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
    const diff = dirtyDiff === undefined ? undefined : yield* store.sink.put(enc(dirtyDiff))
    const entries: Array<ManifestFile> = Object.entries(files).map(([path, content]) => {
      const bytes = typeof content === "string" ? content : content.link
      return { path: path as WorkspacePath, hash: sha256(bytes), size: Buffer.byteLength(bytes) }
    })
    const manifest: Manifest = {
      version: "warrant.manifest.v1",
      source: "git",
      baseRef: commit,
      bundle,
      ...(diff === undefined ? {} : { dirtyDiff: diff }),
      files: [...entries, ...extra],
      denied: [],
      deniedPatterns: []
    }
    return { store, manifest }
  })

const materializeIn = (manifest: Manifest, store: MemoryStore) =>
  Effect.gen(function*() {
    const parent = yield* tempDir("parent")
    const exit = yield* Effect.exit(materialize(manifest, store.fetch, { parent }))
    return { exit, leftovers: readdirSync(parent), parent }
  })

const untrackedFile = (store: MemoryStore, path: string, content: string) =>
  Effect.map(store.sink.put(Buffer.from(content)), (ref): ManifestFile => ({ path: path as WorkspacePath, ...ref, untracked: true }))

/** Every object id a repository can read: loose and packed. */
const objectIds = (dir: string) =>
  Effect.map(git(dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"), (out) => new Set(out.split("\n").filter((l) => l !== "")))

describe("red team: capture", () => {
  it.scoped("runs no fsmonitor, external diff or textconv the repository's config asks for", () =>
    Effect.gen(function*() {
      const marks = yield* tempDir("marks")
      const { dir } = yield* repoWith({ "a.txt": "a\n", ".gitattributes": "*.txt diff=evil\n" })
      yield* git(dir, "config", "core.fsmonitor", `touch ${marks}/fsmonitor; false`)
      yield* git(dir, "config", "diff.external", `touch ${marks}/external`)
      yield* git(dir, "config", "diff.evil.textconv", `touch ${marks}/textconv; cat`)
      yield* git(dir, "config", "core.hooksPath", marks)
      yield* git(dir, "config", "core.pager", `touch ${marks}/pager; cat`)
      write(dir, "a.txt", "changed\n")
      write(dir, "u/new.txt", "new\n")
      const manifest = yield* capture(dir, { allowUntracked: ["u/**"] }, memoryStore().sink)
      expect(manifest.dirtyDiff).toBeDefined()
      expect(readdirSync(marks)).toEqual([])
    }).pipe(Effect.provide(Git.layer)))

  // A decision, not a bypass: the user's own repository configuration is trusted at capture (as
  // their own `git status` runs it; git-lfs needs it), unlike a session's, which is never run.
  it.scoped("runs the repository owner's own clean filter for a dirty file, as git would (the user's config is trusted at capture)", () =>
    Effect.gen(function*() {
      const marks = yield* tempDir("marks")
      const { dir } = yield* repoWith({ "a.txt": "a\n", ".gitattributes": "*.txt filter=evil\n" })
      yield* git(dir, "config", "filter.evil.clean", `touch ${marks}/clean; cat`)
      write(dir, "a.txt", "changed\n")
      yield* capture(dir, {}, memoryStore().sink)
      expect(readdirSync(marks)).toEqual(["clean"])
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a tracked .env renamed with git mv, or copied, does not ship its content under the new name: the capture is refused", () =>
    Effect.gen(function*() {
      const secret = "AWS_SECRET_ACCESS_KEY=hunter2\n"
      const { dir } = yield* repoWith({ "a.txt": "a\n", ".env": secret })
      yield* git(dir, "mv", ".env", "config.txt")
      const store = memoryStore()
      const renamed = failureOf(yield* Effect.exit(capture(dir, {}, store.sink)))
      expect(renamed.message).toContain("config.txt has the same content as the denied .env")
      // Nothing of it was stored.
      const everything = [...store.blobs.values()].map((bytes) => Buffer.from(bytes).toString("latin1")).join("\n")
      expect(everything).not.toContain("hunter2")
      // A plain copy of an untracked denied file, allowlisted, is refused the same way.
      const other = yield* repoWith({ "a.txt": "a\n" })
      write(other.dir, ".env.local", "TOKEN=s3cr3t-copy\n")
      write(other.dir, "notes/copy.txt", "TOKEN=s3cr3t-copy\n")
      const copied = failureOf(yield* Effect.exit(capture(other.dir, { allowUntracked: ["notes/**"] }, memoryStore().sink)))
      expect(copied.message).toContain("notes/copy.txt has the same content as the denied .env.local")
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("deny patterns are case-sensitive by design: .ENV and KEY.PEM ship (a policy decision, not a bypass on a case-sensitive disk)", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ "a.txt": "a\n", ".ENV": "S=1\n", "KEY.PEM": "k\n", ".env.local": "S=2\n" })
      const manifest = yield* capture(dir, {}, memoryStore().sink)
      expect(manifest.files.map((f) => f.path).sort()).toEqual([".ENV", "KEY.PEM", "a.txt"])
      expect(manifest.denied.map((d) => d.path)).toEqual([".env.local"])
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a secret under a name with a newline or in a denied directory never ships", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ "a.txt": "a\n", "x\n/.env": "S=1\n", "keys/id_rsa": "k\n", "deep/.netrc/inner": "n\n" })
      const store = memoryStore()
      const manifest = yield* capture(dir, {}, store.sink)
      expect(manifest.files.map((f) => f.path)).toEqual(["a.txt"])
      expect(manifest.denied.map((d) => d.path).sort()).toEqual(["deep/.netrc/inner", "keys/id_rsa", "x\n/.env"])
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("an allowlisted untracked directory holding a link to ~/.ssh (absolute or by ..) is refused, and nothing under it is read", () =>
    Effect.gen(function*() {
      const home = yield* tempDir("home")
      write(home, ".ssh/id_ed25519", "PRIVATE\n")
      const parent = yield* tempDir("nest")
      const dir = join(parent, "repo")
      yield* git(parent, "init", "-q", "-b", "main", dir)
      write(dir, "a.txt", "a\n")
      yield* commitAll(dir, "base")
      link(dir, "notes/ssh", join(home, ".ssh"))
      const absolute = failureOf(yield* Effect.exit(capture(dir, { allowUntracked: ["notes/**"] }, memoryStore().sink)))
      expect(absolute.message).toContain("notes/ssh is a symlink that cannot be shipped")
      rmSync(join(dir, "notes/ssh"))
      link(dir, "notes/ssh", "../../../" + home.split("/").slice(1).join("/") + "/.ssh")
      const relative = failureOf(yield* Effect.exit(capture(dir, { allowUntracked: ["notes/**"] }, memoryStore().sink)))
      expect(relative.message).toContain("notes/ssh is a symlink that cannot be shipped: it leads outside the tree")
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a tracked file turned into a symlink to a secret outside is refused", () =>
    Effect.gen(function*() {
      const outside = yield* tempDir("outside")
      write(outside, "secret", "PRIVATE\n")
      const { dir } = yield* repoWith({ "a.txt": "a\n", "conf.txt": "c\n" })
      rmSync(join(dir, "conf.txt"))
      link(dir, "conf.txt", join(outside, "secret"))
      const store = memoryStore()
      const error = failureOf(yield* Effect.exit(capture(dir, {}, store.sink)))
      expect(error.message).toContain("conf.txt is a symlink that cannot be shipped")
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("an allowlisted untracked symlink inside the tree materialises as a symlink, not as a file holding its target", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ "a.txt": "a\n" })
      link(dir, "u/link", "../a.txt")
      const store = memoryStore()
      const manifest = yield* capture(dir, { allowUntracked: ["u/**"] }, store.sink)
      const { directory } = yield* materialize(manifest, store.fetch)
      expect(treeOf(directory)["u/link"]).toBe("link ../a.txt")
    }).pipe(Effect.provide(Git.layer)))
})

describe("red team: materialise", () => {
  it.scoped("a bundle's .gitattributes filter and .gitmodules command run nothing: no config comes with a bundle", () =>
    Effect.gen(function*() {
      const marks = yield* tempDir("marks")
      const { store, manifest } = yield* crafted({
        ".gitattributes": "* filter=evil\n",
        ".gitmodules": `[submodule "x"]\n\tpath = x\n\turl = ./x\n\tupdate = !touch ${marks}/submodule\n`,
        "a.txt": "a\n"
      })
      const { directory } = yield* materialize(manifest, store.fetch)
      expect(readdirSync(marks)).toEqual([])
      expect(yield* Effect.exit(git(directory, "config", "--get-regexp", "^filter\\."))).toMatchObject({ _tag: "Failure" })
    }).pipe(Effect.provide(Git.layer)))

  for (const [what, target] of [
    [".git/config", ".git/config"],
    [".GIT/hooks/post-checkout", ".GIT/hooks/post-checkout"],
    ["sub/.git/config", "sub/.git/config"]
  ] as const) {
    it.scoped(`a crafted dirty diff that writes ${what} fails and leaves nothing`, () =>
      Effect.gen(function*() {
        const diff = `diff --git a/${target} b/${target}\nnew file mode 100644\n--- /dev/null\n+++ b/${target}\n@@ -0,0 +1,2 @@\n+[core]\n+\tfsmonitor = touch /tmp/pwned\n`
        const { store, manifest } = yield* crafted({ "a.txt": "a\n" }, diff)
        const { exit, leftovers } = yield* materializeIn(manifest, store)
        expect(Exit.isFailure(exit)).toBe(true)
        expect(leftovers).toEqual([])
      }).pipe(Effect.provide(Git.layer)))
  }

  it.scoped("a crafted dirty diff that plants a link out and writes through it writes nothing outside", () =>
    Effect.gen(function*() {
      const outside = yield* tempDir("outside")
      const diff = `diff --git a/evil b/evil\nnew file mode 120000\n--- /dev/null\n+++ b/evil\n@@ -0,0 +1 @@\n+${outside}\n\\ No newline at end of file\n` +
        "diff --git a/evil/x b/evil/x\nnew file mode 100644\n--- /dev/null\n+++ b/evil/x\n@@ -0,0 +1 @@\n+planted\n"
      const { store, manifest } = yield* crafted({ "a.txt": "a\n" }, diff)
      const { exit, leftovers } = yield* materializeIn(manifest, store)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(readdirSync(outside)).toEqual([])
      expect(leftovers).toEqual([])
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a crafted dirty diff that plants a link out, then an untracked file through it: refused, nothing outside", () =>
    Effect.gen(function*() {
      const outside = yield* tempDir("outside")
      const diff = `diff --git a/evil b/evil\nnew file mode 120000\n--- /dev/null\n+++ b/evil\n@@ -0,0 +1 @@\n+${outside}\n\\ No newline at end of file\n`
      const store0 = memoryStore()
      const through = yield* untrackedFile(store0, "evil/x", "planted\n")
      const { store, manifest } = yield* crafted({ "a.txt": "a\n" }, diff, [through, { path: "evil" as WorkspacePath, hash: sha256(outside), size: outside.length }])
      store.blobs.set(through.hash, store0.blobs.get(through.hash)!)
      const { exit, leftovers } = yield* materializeIn(manifest, store)
      // Listing both `evil` and `evil/x` is refused up front; without that, placement refuses the link.
      expect(["MaterializeFailed", "PathEscape"]).toContain(failureOf(exit)._tag)
      expect(readdirSync(outside)).toEqual([])
      expect(leftovers).toEqual([])
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a crafted dirty diff adding a gitlink (mode 160000) runs nothing and cannot smuggle a file", () =>
    Effect.gen(function*() {
      const diff = "diff --git a/sub b/sub\nnew file mode 160000\nindex 0000000..1111111\n--- /dev/null\n+++ b/sub\n@@ -0,0 +1 @@\n+Subproject commit 1111111111111111111111111111111111111111\n"
      const { store, manifest } = yield* crafted({ "a.txt": "a\n" }, diff)
      const { exit, parent } = yield* materializeIn(manifest, store)
      // Either refused or a tree that is exactly the manifest's; never a file outside the manifest.
      if (Exit.isSuccess(exit)) expect(treeOf(exit.value.directory)).toEqual({ "a.txt": `- ${sha256("a\n").slice(7)}` })
      expect(readdirSync(parent).length).toBeLessThanOrEqual(1)
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("two untracked files in a file/directory conflict (a and a/b) fail as a typed error, not a defect, and leave nothing", () =>
    Effect.gen(function*() {
      const { store, manifest } = yield* crafted({ "keep.txt": "k\n" })
      const a = yield* untrackedFile(store, "a", "file\n")
      const ab = yield* untrackedFile(store, "a/b", "nested\n")
      const { exit, leftovers } = yield* materializeIn({ ...manifest, files: [...manifest.files, a, ab] }, store)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(leftovers).toEqual([])
      // A defect (an untyped exception) would escape callers that handle only the declared errors.
      expect(Exit.isFailure(exit) && Option.isSome(Cause.failureOption(exit.cause))).toBe(true)
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("an untracked file whose name differs only by case from a bundle file is judged by the real filesystem", () =>
    Effect.gen(function*() {
      const { store, manifest } = yield* crafted({ "readme.md": "r\n" })
      const upper = yield* untrackedFile(store, "README.md", "R\n")
      const { exit, leftovers } = yield* materializeIn({ ...manifest, files: [...manifest.files, upper] }, store)
      // On a case-sensitive disk these are two files and both materialise; never one overwriting the other.
      if (Exit.isSuccess(exit)) {
        expect(read(exit.value.directory, "readme.md")).toBe("r\n")
        expect(read(exit.value.directory, "README.md")).toBe("R\n")
      } else expect(leftovers).toEqual([])
    }).pipe(Effect.provide(Git.layer)))
})

describe("red team: collectOutput", () => {
  it.scoped("runs nothing a rewritten .git/config asks for: filters, textconv, external diff, fsmonitor, hooks, included config", () =>
    Effect.gen(function*() {
      const marks = yield* tempDir("marks")
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      write(marks, "included.cfg", `[core]\n\tfsmonitor = touch ${marks}/inc-fsmonitor; false\n[diff]\n\texternal = touch ${marks}/inc-external\n`)
      write(dir, ".gitattributes", "* filter=evil diff=evil\n")
      const cfg = join(dir, ".git/config")
      writeFileSync(cfg, readFileSync(cfg, "utf8") + [
        `[include]\n\tpath = ${marks}/included.cfg`,
        `[filter "evil"]\n\tclean = touch ${marks}/clean; cat\n\tsmudge = touch ${marks}/smudge; cat\n\tprocess = touch ${marks}/process`,
        `[diff "evil"]\n\ttextconv = touch ${marks}/textconv; cat\n\tcommand = touch ${marks}/diffcmd`,
        `[core]\n\thooksPath = ${marks}/hooks\n\tpager = touch ${marks}/pager; cat\n\tsshCommand = touch ${marks}/ssh`,
        ""
      ].join("\n"))
      write(marks, "hooks/post-index-change", `#!/bin/sh\ntouch ${marks}/hook\n`, 0o755)
      write(dir, ".git/hooks/post-index-change", `#!/bin/sh\ntouch ${marks}/hook2\n`, 0o755)
      write(dir, "a.txt", "changed\n")
      write(dir, "new.txt", "new\n")
      const output = yield* collectOutput(dir, base)
      expect(output.files.map((f) => f.path)).toEqual([".gitattributes", "a.txt", "new.txt"])
      expect(readdirSync(marks).sort()).toEqual(["hooks", "included.cfg"])
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a core.worktree pointing elsewhere is refused, not collected from there", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      const elsewhere = yield* tempDir("elsewhere")
      write(elsewhere, "a.txt", "from elsewhere\n")
      yield* git(dir, "config", "core.worktree", elsewhere)
      const error = yield* Effect.flip(collectOutput(dir, base))
      expect(error._tag).toBe("OutputFailed")
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("HEAD, branches and a ref spelled like the base moved by the session do not change the base", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n", "b.txt": "b\n" })
      write(dir, "a.txt", "fake base\n")
      const fake = yield* commitAll(dir, "fake")
      yield* git(dir, "update-ref", `refs/heads/${base}`, fake)
      yield* git(dir, "update-ref", `refs/tags/${base}`, fake)
      writeFileSync(join(dir, ".git/HEAD"), "ref: refs/heads/nowhere\n")
      write(dir, "b.txt", "changed\n")
      const output = yield* collectOutput(dir, base)
      expect(output.baseCommit).toBe(base)
      expect(output.files.map((f) => `${f.status} ${f.path}`)).toEqual(["modified a.txt", "modified b.txt"])
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a .git file (gitdir:) pointing at another repository on the runner is refused; nothing is written there", () =>
    Effect.gen(function*() {
      const { dir: other, base } = yield* repoWith({ "a.txt": "a\n" })
      const ws = yield* cloneOf(other)
      rmSync(join(ws, ".git"), { recursive: true, force: true })
      writeFileSync(join(ws, ".git"), `gitdir: ${join(other, ".git")}\n`)
      write(ws, "planted.txt", "written into the other repository's object store\n")
      const before = yield* objectIds(other)
      const exit = yield* Effect.exit(collectOutput(ws, base))
      const after = yield* objectIds(other)
      expect([...after].filter((oid) => !before.has(oid))).toEqual([])
      expect(Exit.isFailure(exit)).toBe(true)
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a .git symlink to another repository's .git is refused; nothing is written there", () =>
    Effect.gen(function*() {
      const { dir: other, base } = yield* repoWith({ "a.txt": "a\n" })
      const ws = yield* cloneOf(other)
      rmSync(join(ws, ".git"), { recursive: true, force: true })
      symlinkSync(join(other, ".git"), join(ws, ".git"))
      write(ws, "planted.txt", "written into the other repository's object store\n")
      const before = yield* objectIds(other)
      const exit = yield* Effect.exit(collectOutput(ws, base))
      const after = yield* objectIds(other)
      expect([...after].filter((oid) => !before.has(oid))).toEqual([])
      expect(Exit.isFailure(exit)).toBe(true)
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a .git/commondir planted by the session is refused; nothing is written to the repository it names", () =>
    Effect.gen(function*() {
      const { dir: other, base } = yield* repoWith({ "a.txt": "a\n" })
      const ws = yield* cloneOf(other)
      writeFileSync(join(ws, ".git/commondir"), `${join(other, ".git")}\n`)
      write(ws, "planted.txt", "written into the other repository's object store\n")
      const before = yield* objectIds(other)
      const exit = yield* Effect.exit(collectOutput(ws, base))
      const after = yield* objectIds(other)
      expect([...after].filter((oid) => !before.has(oid))).toEqual([])
      expect(Exit.isFailure(exit)).toBe(true)
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("objects/info/alternates planted by the session is refused: the base is never resolved from another repository", () =>
    Effect.gen(function*() {
      const { dir: other, base } = yield* repoWith({ "a.txt": "a\n" })
      const ws = yield* cloneOf(other)
      // The session empties its own object store and borrows the runner's repository instead.
      rmSync(join(ws, ".git/objects"), { recursive: true, force: true })
      mkdirSync(join(ws, ".git/objects/info"), { recursive: true })
      mkdirSync(join(ws, ".git/objects/pack"), { recursive: true })
      writeFileSync(join(ws, ".git/objects/info/alternates"), `${join(other, ".git/objects")}\n`)
      write(ws, "a.txt", "changed\n")
      const exit = yield* Effect.exit(collectOutput(ws, base))
      expect(Exit.isFailure(exit)).toBe(true)
    }).pipe(Effect.provide(Git.layer)))

  for (const fifo of ["objects/pack/pack-1111111111111111111111111111111111111111.idx", "config"]) {
    it.scopedLive(`a FIFO planted at .git/${fifo.split("/")[0]}${fifo.includes("/") ? "/pack/*.idx" : ""} cannot hang collectOutput`, () =>
      Effect.gen(function*() {
        const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
        write(dir, "a.txt", "changed\n")
        rmSync(join(dir, ".git", fifo), { force: true })
        execFileSync("mkfifo", [join(dir, ".git", fifo)])
        if (fifo.endsWith(".idx")) writeFileSync(join(dir, ".git", fifo.replace(/\.idx$/, ".pack")), "")
        // No writer ever opens the FIFO: a git that opens it blocks for ever.
        const exit = yield* Effect.exit(collectOutput(dir, base).pipe(Effect.timeout("5 seconds")))
        const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        expect(Option.isSome(error) && (error.value as { _tag: string })._tag).not.toBe("TimeoutException")
      }).pipe(Effect.provide(Git.layer)))
  }

  const diffSettings = (name: string, settings: string) =>
    it.scoped(name, () =>
    Effect.gen(function*() {
      const lines = Array.from({ length: 20 }, (_, i) => `line ${i % 4}\n`).join("")
      const { dir, base } = yield* repoWith({ "a.txt": lines, "sub/b.txt": "b\n" })
      const ws = yield* cloneOf(dir)
      const cfg = join(ws, ".git/config")
      writeFileSync(cfg, readFileSync(cfg, "utf8") + settings)
      write(ws, "a.txt", lines.replace(/line 2\n/g, (m, offset: number) => offset > 40 ? "CHANGED\n" : m))
      write(ws, "sub/b.txt", "b2\n")
      const output = yield* collectOutput(ws, base)
      expect(Buffer.from(output.diff).toString("latin1")).not.toContain("\u001b[")
      const result = yield* pull(dir, "run-ctx", base, output.diff)
      expect(result._tag).toBe("Applied")
      expect(read(dir, "a.txt")).toBe(read(ws, "a.txt"))
      expect(read(dir, "sub/b.txt")).toBe("b2\n")
        }).pipe(Effect.provide(Git.layer)))

  diffSettings("a session's diff settings (diff.relative, diff.interHunkContext=0, diff.renames=copies, color=always) do not change the patch pull applies",
    "[diff]\n\tinterHunkContext = 0\n\trelative = true\n\trenames = copies\n[color]\n\tui = always\n\tdiff = always\n")
  diffSettings("a session's diff.context=0 does not make its output a zero-context patch that pull reports as conflicted",
    "[diff]\n\tcontext = 0\n")

  it.scoped("a loose object the session rewrote cannot stand in for the base commit (git checks the hash on parse; collect refuses)", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n", "b.txt": "b\n" })
      const ws = yield* cloneOf(dir)
      // The session makes a commit without b.txt and stores its bytes under the base's object id.
      yield* git(ws, "rm", "-q", "b.txt")
      const fake = yield* commitAll(ws, "fake")
      const loose = (oid: string) => join(ws, ".git/objects", oid.slice(0, 2), oid.slice(2))
      const forged = readFileSync(loose(fake))
      rmSync(loose(base))
      writeFileSync(loose(base), forged)
      write(ws, "a.txt", "changed\n")
      const exit = yield* Effect.exit(collectOutput(ws, base))
      // Refusing is a defence; so is an output that still shows b.txt deleted against the real base.
      if (Exit.isSuccess(exit)) expect(exit.value.files.map((f) => `${f.status} ${f.path}`)).toEqual(["modified a.txt", "deleted b.txt"])
      else expect(failureOf(exit)).toMatchObject({ _tag: "OutputFailed" })
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("an alternates file pointing at / is refused before git reads anything through it", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      writeFileSync(join(dir, ".git/objects/info/alternates"), "/\n/etc\n")
      write(dir, "a.txt", "changed\n")
      const error = yield* Effect.flip(collectOutput(dir, base))
      expect(error.message).toContain("its .git has objects/info/alternates")
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a .git/info/exclude cannot hide a change to a tracked file", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      write(dir, ".git/info/exclude", "*\n")
      write(dir, "a.txt", "changed\n")
      rmSync(join(dir, ".git/index"))
      const output = yield* collectOutput(dir, base)
      expect(output.files.map((f) => `${f.status} ${f.path}`)).toEqual(["modified a.txt"])
    }).pipe(Effect.provide(Git.layer)))
})

describe("red team: pull", () => {
  const patchNew = (path: string, body = "planted") =>
    enc(`diff --git a/${path} b/${path}\nnew file mode 100644\n--- /dev/null\n+++ b/${path}\n@@ -0,0 +1 @@\n+${body}\n`)

  for (const path of [".git/config", ".Git/hooks/pre-commit", "a/.gIT/config", ".git./config", ".git /config", ".g\u200cit/config", ".git\u200b/config"]) {
    it.scoped(`a diff writing ${JSON.stringify(path)} never writes into .git`, () =>
      Effect.gen(function*() {
        const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
        const gitBefore = snapshot(join(dir, ".git"))
        const exit = yield* Effect.exit(pull(dir, "run-1", base, patchNew(path)))
        // Whatever the outcome, nothing inside .git changed except (for a branch) refs/logs and objects.
        const gitAfter = snapshot(join(dir, ".git"))
        for (const [p, v] of Object.entries(gitAfter)) {
          if (p.startsWith("objects/") || p.startsWith("refs/heads/warrant") || p.startsWith("logs/")) continue
          expect(v, p).toBe(gitBefore[p])
        }
        expect(existsSync(join(dir, ".git/hooks/pre-commit"))).toBe(false)
        if (Exit.isSuccess(exit) && exit.value._tag === "Applied") {
          // Only a name git itself does not treat as .git on this filesystem may land.
          expect(path.split("/").some((s) => s.toLowerCase() === ".git")).toBe(false)
        }
      }).pipe(Effect.provide(Git.layer)))
  }

  it.scoped("a diff with a gitlink (mode 160000) writes nothing outside and does not touch .git", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      const before = snapshot(join(dir, ".git"))
      const diff = enc("diff --git a/sub b/sub\nnew file mode 160000\nindex 0000000..1111111\n--- /dev/null\n+++ b/sub\n@@ -0,0 +1 @@\n+Subproject commit 1111111111111111111111111111111111111111\n")
      const exit = yield* Effect.exit(pull(dir, "run-2", base, diff))
      expect(Object.keys(snapshot(join(dir, ".git"))).filter((p) => !p.startsWith("objects/") && !p.startsWith("refs/") && !p.startsWith("logs/") && before[p] === undefined)).toEqual([])
      if (Exit.isSuccess(exit)) expect(exit.value._tag).not.toBe("Conflicted")
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a diff through a tracked in-repo symlink to .git is refused (git apply: beyond a symbolic link)", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ "a.txt": "a\n" })
      link(dir, "gitdir", ".git")
      const withLink = yield* commitAll(dir, "link")
      const result = yield* pull(dir, "run-3", withLink, patchNew("gitdir/hooks/post-commit"))
      expect(result._tag).toBe("Conflicted")
      expect(existsSync(join(dir, ".git/hooks/post-commit"))).toBe(false)
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a local ignored file at a path the diff creates is never overwritten", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ ".gitignore": "build/\n", "a.txt": "a\n" })
      write(dir, "build/out", "precious local\n")
      const result = yield* pull(dir, "run-4", base, patchNew("build/out", "from the run"))
      expect(read(dir, "build/out")).toBe("precious local\n")
      expect(result._tag).toBe("Branched")
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a diff that deletes a file touches only what it names, and a local staged change is never lost", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n" })
      write(dir, "c.txt", "staged local\n")
      yield* git(dir, "add", "c.txt")
      const before = yield* localState(dir)
      const diff = enc("diff --git a/a.txt b/a.txt\ndeleted file mode 100644\n--- a/a.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n")
      const result = yield* pull(dir, "run-5", base, diff)
      expect(result).toMatchObject({ _tag: "Branched", files: ["a.txt"] })
      const after = yield* localState(dir)
      expect(after.tree).toEqual(before.tree)
      expect(after.index).toBe(before.index)
      expect(yield* git(dir, "show", `${(result as { commit: string }).commit}:b.txt`)).toBe("b")
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("branch name collisions: a branch 'warrant' (file where a directory is needed) and a tag warrant/<runId>", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      write(dir, "a.txt", "local edit\n")
      yield* git(dir, "branch", "warrant", base)
      const before = yield* localState(dir)
      const dfConflict = yield* Effect.flip(pull(dir, "run-6", base, patchNew("new.txt")))
      expect(dfConflict._tag).toBe("PullFailed")
      expect(yield* localState(dir)).toEqual(before)
      yield* git(dir, "branch", "-D", "warrant")

      yield* git(dir, "tag", "warrant/run-7", base)
      const result = yield* pull(dir, "run-7", base, patchNew("new.txt"))
      expect(result).toMatchObject({ _tag: "Branched", branch: "warrant/run-7" })
      expect(yield* git(dir, "rev-parse", "refs/tags/warrant/run-7")).toBe(base)
      expect(read(dir, "a.txt")).toBe("local edit\n")
    }).pipe(Effect.provide(Git.layer)))

  it.scoped("a big diff (5,000 files) applies without losing any file", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      const parts: Array<string> = []
      for (let i = 0; i < 5000; i++) parts.push(`diff --git a/big/f${i} b/big/f${i}\nnew file mode 100644\n--- /dev/null\n+++ b/big/f${i}\n@@ -0,0 +1 @@\n+${i}\n`)
      const result = yield* pull(dir, "run-8", base, enc(parts.join("")))
      expect(result._tag).toBe("Applied")
      expect(readdirSync(join(dir, "big")).length).toBe(5000)
    }).pipe(Effect.provide(Git.layer)))
})

