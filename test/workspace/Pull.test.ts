import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, unlinkSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Git from "../../src/workspace/Git.js"
import { collectOutput } from "../../src/workspace/Output.js"
import { pull } from "../../src/workspace/Pull.js"
import { binaryBytes, cloneOf, commitAll, git, link, read, repoWith, sha256Of, snapshot, tempDir, write } from "./support/GitRepo.js"

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

/** A repository, a clone of it where a session changes things, and the collected output. */
const sessionOutput = (files: Readonly<Record<string, string | Uint8Array>>, session: (ws: string) => void) =>
  Effect.gen(function*() {
    const { dir, base } = yield* repoWith(files)
    const ws = yield* cloneOf(dir)
    session(ws)
    const output = yield* collectOutput(ws, base)
    return { dir, base, ws, output }
  })

const everyKind = {
  "keep.txt": "keep\n",
  "edit.txt": "before\n",
  "gone.txt": "bye\n",
  "old/name.txt": Array.from({ length: 30 }, (_, i) => `line ${i}\n`).join(""),
  "run.sh": "#!/bin/sh\necho hi\n",
  "blob.bin": binaryBytes(1)
}
const changeEveryKind = (ws: string) => {
  write(ws, "edit.txt", "after\n")
  unlinkSync(join(ws, "gone.txt"))
  renameSync(join(ws, "old/name.txt"), join(ws, "renamed.txt"))
  chmodSync(join(ws, "run.sh"), 0o755)
  write(ws, "blob.bin", binaryBytes(2))
  write(ws, "new/dir/added.bin", binaryBytes(3, 5000))
  link(ws, "latest", "renamed.txt")
}

/** The tree id of `dir`'s working tree once committed, for comparing with a pulled branch. */
const committedTree = (dir: string) =>
  Effect.gen(function*() {
    yield* commitAll(dir, "session")
    return yield* git(dir, "rev-parse", "HEAD^{tree}")
  })

it.layer(Git.layer)("pull", (it) => {
  it.scoped("round trip: binary, deletion, rename, mode change and symlink arrive byte for byte (applied)", () =>
    Effect.gen(function*() {
      const { dir, base, ws, output } = yield* sessionOutput(everyKind, changeEveryKind)
      const result = yield* pull(dir, "run-1", base, output.diff)
      expect(result).toEqual({
        _tag: "Applied",
        alreadyApplied: false,
        files: ["blob.bin", "edit.txt", "gone.txt", "latest", "new/dir/added.bin", "old/name.txt", "renamed.txt", "run.sh"]
      })
      expect(snapshot(dir)).toEqual(snapshot(ws))
      expect(snapshot(dir)["run.sh"]).toMatch(/^file 755 /)
      expect(snapshot(dir)["latest"]).toBe("link renamed.txt")
      // Applied to the working tree only: HEAD stays at the base and nothing is staged.
      expect(yield* git(dir, "rev-parse", "HEAD")).toBe(base)
      expect(yield* git(dir, "diff", "--cached", "--name-only")).toBe("")
    }))

  it.scoped("names with a newline, a quote, a tab and non-ASCII survive collect and pull", () =>
    Effect.gen(function*() {
      const odd = ["line\nbreak.txt", "quo\"te.txt", "tab\there.txt", "ünï cödé.txt"]
      const { dir, base, ws, output } = yield* sessionOutput({ "a.txt": "a\n" }, (ws) => odd.forEach((name, i) => write(ws, `dir/${name}`, `${i}\n`)))
      expect(output.files.map((file) => file.path)).toEqual(odd.map((name) => `dir/${name}`).sort())
      expect(yield* pull(dir, "run-odd", base, output.diff)).toMatchObject({ _tag: "Applied" })
      expect(snapshot(dir)).toEqual(snapshot(ws))
    }))

  it.scoped("pulling the applied output twice changes nothing the second time", () =>
    Effect.gen(function*() {
      const { dir, base, output } = yield* sessionOutput(everyKind, changeEveryKind)
      const first = yield* pull(dir, "run-1", base, output.diff)
      const after = yield* localState(dir)
      const second = yield* pull(dir, "run-1", base, output.diff)
      expect(second).toEqual({ ...first, alreadyApplied: true })
      expect(yield* localState(dir)).toEqual(after)
    }))

  it.scoped("local file edited after capture: working tree untouched, output committed on warrant/<runId>", () =>
    Effect.gen(function*() {
      const { dir, base, ws, output } = yield* sessionOutput(everyKind, changeEveryKind)
      write(dir, "keep.txt", "local edit\n")
      const before = yield* localState(dir)
      const result = yield* pull(dir, "run-2", base, output.diff)
      expect(result._tag).toBe("Branched")
      if (result._tag !== "Branched") return
      expect(result.branch).toBe("warrant/run-2")
      expect(result.alreadyExisted).toBe(false)
      expect(result.howToMerge).toBe("commit or stash your local changes, then: git merge warrant/run-2")
      const after = yield* localState(dir)
      expect(after.tree).toEqual(before.tree)
      expect(after.index).toBe(before.index)
      expect(after.head).toBe(before.head)
      expect(after.refs).toBe(`${before.refs}\n${`refs/heads/warrant/run-2 ${result.commit}`}`)
      // The branch is exactly base + diff: the same tree the session's workspace commits to.
      expect(yield* git(dir, "rev-parse", `${result.commit}^{tree}`)).toBe(yield* committedTree(ws))
      expect(yield* git(dir, "rev-list", "--parents", "-n", "1", result.commit)).toBe(`${result.commit} ${base}`)
      expect(yield* git(dir, "log", "-1", "--format=%an <%ae>%n%s", result.commit)).toBe("warrant <warrant@localhost>\nwarrant: output of run run-2")

      // Twice: the same branch and commit, nothing else moves.
      const again = yield* pull(dir, "run-2", base, output.diff)
      expect(again).toEqual({ ...result, alreadyExisted: true })
      expect(yield* localState(dir)).toEqual(after)

      // The instruction works: once the local edit is committed, the branch merges cleanly.
      yield* commitAll(dir, "local work")
      yield* git(dir, "merge", "-q", "--no-edit", result.branch)
      expect(read(dir, "keep.txt")).toBe("local edit\n")
      expect(read(dir, "edit.txt")).toBe("after\n")
      expect(existsSync(join(dir, "gone.txt"))).toBe(false)
    }))

  it.scoped("HEAD moved since the base: branched, with a plain merge instruction", () =>
    Effect.gen(function*() {
      const { dir, base, output } = yield* sessionOutput({ "a.txt": "a\n", "b.txt": "b\n" }, (ws) => write(ws, "a.txt", "from the run\n"))
      write(dir, "b.txt", "local commit\n")
      const head = yield* commitAll(dir, "moved on")
      const before = yield* localState(dir)
      const result = yield* pull(dir, "run-3", base, output.diff)
      expect(result).toMatchObject({ _tag: "Branched", branch: "warrant/run-3", howToMerge: "git merge warrant/run-3", files: ["a.txt"] })
      expect((yield* localState(dir)).tree).toEqual(before.tree)
      expect(yield* git(dir, "rev-parse", "HEAD")).toBe(head)
      expect(yield* git(dir, "show", "warrant/run-3:a.txt")).toBe("from the run")
      expect(yield* git(dir, "show", "warrant/run-3:b.txt")).toBe("b")
    }))

  it.scoped("an untracked local file makes the state diverged too", () =>
    Effect.gen(function*() {
      const { dir, base, output } = yield* sessionOutput({ "a.txt": "a\n" }, (ws) => write(ws, "a.txt", "run\n"))
      write(dir, "scratch.txt", "mine\n")
      const result = yield* pull(dir, "run-4", base, output.diff)
      expect(result._tag).toBe("Branched")
      expect(read(dir, "a.txt")).toBe("a\n")
    }))

  it.scoped("a diff that does not apply to its base is conflicted, with the paths, and nothing changes", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "one\n", "b.txt": "two\n", "c.txt": "three\n" })
      write(dir, "a.txt", "ONE\n")
      write(dir, "b.txt", "TWO\n")
      const moved = yield* commitAll(dir, "moved")
      const ws = yield* cloneOf(dir)
      write(ws, "a.txt", "uno\n")
      write(ws, "b.txt", "dos\n")
      write(ws, "c.txt", "tres\n")
      const output = yield* collectOutput(ws, moved)
      yield* git(dir, "reset", "-q", "--hard", base)
      const before = yield* localState(dir)
      // The diff is relative to `moved`; claimed against `base` it cannot apply to a.txt and b.txt.
      const result = yield* pull(dir, "run-5", base, output.diff)
      expect(result._tag).toBe("Conflicted")
      if (result._tag !== "Conflicted") return
      expect(result.paths).toEqual(["a.txt", "b.txt"])
      expect(result.detail).toContain("patch does not apply")
      expect(yield* localState(dir)).toEqual(before)
      // Twice: the same answer, still nothing changed.
      expect(yield* pull(dir, "run-5", base, output.diff)).toEqual(result)
      expect(yield* localState(dir)).toEqual(before)
    }))

  it.scoped("refuses run ids that are not safe branch names", () =>
    Effect.gen(function*() {
      const { dir, base, output } = yield* sessionOutput({ "a.txt": "a\n" }, (ws) => write(ws, "a.txt", "b\n"))
      const before = yield* localState(dir)
      for (const runId of ["../x", "a b", "-rf", "a..b", "x.lock", "a:b", "", "a/b"]) {
        const error = yield* Effect.flip(pull(dir, runId, base, output.diff))
        expect(error._tag, runId).toBe("PullFailed")
      }
      expect(yield* localState(dir)).toEqual(before)
    }))

  it.scoped("refuses a diff with a path outside the workspace or inside .git, writing nothing", () =>
    Effect.gen(function*() {
      const parent = yield* tempDir("nest")
      const dir = join(parent, "repo")
      yield* git(parent, "init", "-q", "-b", "main", dir)
      write(dir, "a.txt", "a\n")
      const base = yield* commitAll(dir, "base")
      const patch = (path: string) =>
        new TextEncoder().encode(`diff --git a/${path} b/${path}\nnew file mode 100644\n--- /dev/null\n+++ b/${path}\n@@ -0,0 +1 @@\n+planted\n`)
      const before = yield* localState(dir)
      for (const path of ["a/../../x", "../x", `${parent}/x`, ".git/hooks/post-checkout", "sub/.GIT/config"]) {
        const error = yield* Effect.flip(pull(dir, "run-6", base, patch(path)))
        expect(error._tag, path).toBe("PathEscape")
      }
      // A rename names its source only in the header; the source is checked as well.
      const renameOut = new TextEncoder().encode("diff --git a/../x b/y\nsimilarity index 100%\nrename from ../x\nrename to y\n")
      expect((yield* Effect.flip(pull(dir, "run-6", base, renameOut)))._tag).toBe("PathEscape")
      expect(readdirSync(parent)).toEqual(["repo"])
      expect(yield* localState(dir)).toEqual(before)
      expect(existsSync(join(dir, ".git/hooks/post-checkout"))).toBe(false)
    }))

  it.scoped("never writes through a symlink: a tracked one makes the diff conflicted", () =>
    Effect.gen(function*() {
      const outside = yield* tempDir("outside")
      const { dir } = yield* repoWith({ "a.txt": "a\n" })
      link(dir, "link", outside)
      const withLink = yield* commitAll(dir, "link")
      const patch = new TextEncoder().encode("diff --git a/link/x b/link/x\nnew file mode 100644\n--- /dev/null\n+++ b/link/x\n@@ -0,0 +1 @@\n+planted\n")
      const result = yield* pull(dir, "run-7", withLink, patch)
      expect(result).toMatchObject({ _tag: "Conflicted", paths: ["link/x"] })
      expect(readdirSync(outside)).toEqual([])
    }))

  it.scoped("never writes through a symlink: a diff that plants a link and writes beneath it is conflicted", () =>
    Effect.gen(function*() {
      const outside = yield* tempDir("outside")
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      const patch = new TextEncoder().encode(
        `diff --git a/evil b/evil\nnew file mode 120000\n--- /dev/null\n+++ b/evil\n@@ -0,0 +1 @@\n+${outside}\n\\ No newline at end of file\n` +
          "diff --git a/evil/x b/evil/x\nnew file mode 100644\n--- /dev/null\n+++ b/evil/x\n@@ -0,0 +1 @@\n+planted\n"
      )
      const result = yield* pull(dir, "run-8", base, patch)
      expect(result._tag).toBe("Conflicted")
      expect(readdirSync(outside)).toEqual([])
      expect(existsSync(join(dir, "evil"))).toBe(false)
    }))

  it.scoped("an ignored local symlink in the way: the working tree is left alone and the output branched", () =>
    Effect.gen(function*() {
      const outside = yield* tempDir("outside")
      const { dir, base } = yield* repoWith({ ".gitignore": "cache\n", "a.txt": "a\n" })
      link(dir, "cache", outside)
      const patch = new TextEncoder().encode("diff --git a/cache/x b/cache/x\nnew file mode 100644\n--- /dev/null\n+++ b/cache/x\n@@ -0,0 +1 @@\n+planted\n")
      const result = yield* pull(dir, "run-9", base, patch)
      expect(result).toMatchObject({ _tag: "Branched", branch: "warrant/run-9" })
      expect(readdirSync(outside)).toEqual([])
      expect(yield* git(dir, "show", "warrant/run-9:cache/x")).toBe("planted")
    }))

  it.scoped("refuses a missing base, a non-repository, and a branch that exists with other content", () =>
    Effect.gen(function*() {
      const { dir, base, output } = yield* sessionOutput({ "a.txt": "a\n" }, (ws) => write(ws, "a.txt", "run\n"))
      const missing = yield* Effect.flip(pull(dir, "run-10", "1111111111111111111111111111111111111111", output.diff))
      expect(missing.message).toContain("fetch it first")
      const plain = yield* tempDir("plain")
      expect((yield* Effect.flip(pull(plain, "run-10", base, output.diff))).message).toContain("not a git repository")

      yield* git(dir, "branch", "warrant/run-10", base)
      write(dir, "a.txt", "local\n")
      const before = yield* localState(dir)
      const taken = yield* Effect.flip(pull(dir, "run-10", base, output.diff))
      expect(taken._tag).toBe("PullFailed")
      expect(taken.message).toContain("already exists with other content")
      expect(yield* localState(dir)).toEqual(before)
    }))

  it.scoped("an empty output applies as nothing to do", () =>
    Effect.gen(function*() {
      const { dir, base, output } = yield* sessionOutput({ "a.txt": "a\n" }, () => {})
      expect(output.diff.length).toBe(0)
      expect(yield* pull(dir, "run-11", base, output.diff)).toEqual({ _tag: "Applied", files: [], alreadyApplied: true })
    }))
})
