import { existsSync, readFileSync, renameSync, rmSync, unlinkSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Git from "../../src/workspace/Git.js"
import { collectOutput } from "../../src/workspace/Output.js"
import { binaryBytes, cloneOf, commitAll, git, link, read, repoWith, sha256Of, tempDir, write } from "./support/GitRepo.js"

const text = (n: number) => Array.from({ length: 40 }, (_, i) => `line ${i} of file ${n}\n`).join("")

it.layer(Git.layer)("collectOutput", (it) => {
  it.scoped("reports modified, added (untracked, new directories), deleted, renamed, mode, binary and symlink changes", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({
        "keep.txt": "unchanged\n",
        "edit.txt": "before\n",
        "gone.txt": "bye\n",
        "old/name.txt": text(1),
        "run.sh": "#!/bin/sh\necho hi\n",
        "blob.bin": binaryBytes(1)
      })
      write(dir, "edit.txt", "after\n")
      unlinkSync(join(dir, "gone.txt"))
      renameSync(join(dir, "old/name.txt"), join(dir, "renamed.txt"))
      write(dir, "run.sh", "#!/bin/sh\necho hi\n", 0o755)
      write(dir, "blob.bin", binaryBytes(2))
      write(dir, "new/deep/dir/file.txt", "brand new\n")
      write(dir, "new.bin", binaryBytes(3, 10_000))
      link(dir, "latest", "new/deep/dir/file.txt")

      const output = yield* collectOutput(dir, base)
      expect(output.baseCommit).toBe(base)
      expect(output.skipped).toEqual([])
      expect(output.files).toEqual([
        { path: "blob.bin", status: "modified", hash: sha256Of(binaryBytes(2)), size: 4096, executable: false },
        { path: "edit.txt", status: "modified", hash: sha256Of("after\n"), size: 6, executable: false },
        { path: "gone.txt", status: "deleted" },
        { path: "latest", status: "added", hash: sha256Of("new/deep/dir/file.txt"), size: 21, executable: false, symlink: true },
        { path: "new.bin", status: "added", hash: sha256Of(binaryBytes(3, 10_000)), size: 10_000, executable: false },
        { path: "new/deep/dir/file.txt", status: "added", hash: sha256Of("brand new\n"), size: 10, executable: false },
        { path: "renamed.txt", status: "renamed", from: "old/name.txt", hash: sha256Of(text(1)), size: text(1).length, executable: false },
        { path: "run.sh", status: "mode", hash: sha256Of("#!/bin/sh\necho hi\n"), size: 18, executable: true }
      ])
      const diff = Buffer.from(output.diff).toString("latin1")
      expect(diff).toContain("GIT binary patch")
      expect(diff).toContain("rename from old/name.txt\nrename to renamed.txt")
      expect(diff).toContain("old mode 100644\nnew mode 100755")
      expect(diff).toContain("new file mode 120000")
      expect(diff).toContain("deleted file mode 100644")
    }))

  it.scoped("never touches the repository's own index", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n", "b.txt": "b\n" })
      write(dir, "a.txt", "changed\n")
      write(dir, "c.txt", "untracked\n")
      yield* git(dir, "add", "a.txt")
      const indexBefore = readFileSync(join(dir, ".git/index"))
      const statusBefore = yield* git(dir, "status", "--porcelain")
      const output = yield* collectOutput(dir, base)
      expect(output.files.map((file) => `${file.status} ${file.path}`)).toEqual(["modified a.txt", "added c.txt"])
      expect(readFileSync(join(dir, ".git/index")).equals(indexBefore)).toBe(true)
      expect(yield* git(dir, "status", "--porcelain")).toBe(statusBefore)
    }))

  it.scoped("carries a symlink that points outside as a link, never reading through it", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      const outside = yield* tempDir("outside")
      write(outside, "secret", "do not read\n")
      link(dir, "escape", join(outside, "secret"))
      link(dir, "dirlink", outside)
      const output = yield* collectOutput(dir, base)
      expect(output.files).toEqual([
        { path: "dirlink", status: "added", hash: sha256Of(outside), size: outside.length, executable: false, symlink: true },
        { path: "escape", status: "added", hash: sha256Of(join(outside, "secret")), size: join(outside, "secret").length, executable: false, symlink: true }
      ])
      expect(Buffer.from(output.diff).toString("utf8")).not.toContain("do not read")
    }))

  it.scoped("sees a tracked file replaced by a directory, and a directory replaced by a symlink", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a": "file\n", "d/f": "inside\n" })
      unlinkSync(join(dir, "a"))
      write(dir, "a/x", "now a directory\n")
      rmSync(join(dir, "d"), { recursive: true })
      const outside = yield* tempDir("outside")
      write(outside, "f", "outside\n")
      link(dir, "d", outside)
      const output = yield* collectOutput(dir, base)
      // d/f is gone for git (its parent is now a link), even though d/f resolves through the link.
      expect(output.files.map((file) => `${file.status} ${file.path}`)).toEqual(["deleted a", "added a/x", "added d", "deleted d/f"])
    }))

  it.scoped("a session's .gitignore hides its new files, never a change to a tracked file", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "src/main.ts": "one\n" })
      write(dir, ".gitignore", "build/\nsrc/\n")
      write(dir, "build/out.js", "generated\n")
      write(dir, "src/main.ts", "two\n")
      write(dir, "src/extra.ts", "hidden new file\n")
      const output = yield* collectOutput(dir, base)
      expect(output.files.map((file) => `${file.status} ${file.path}`)).toEqual(["added .gitignore", "modified src/main.ts"])
    }))

  it.scoped("runs no filter or conversion the workspace's config asks for", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      const marker = join(yield* tempDir("marker"), "ran")
      yield* git(dir, "config", "filter.evil.clean", `touch ${marker}; tr a-z A-Z`)
      yield* git(dir, "config", "core.autocrlf", "true")
      yield* git(dir, "config", "core.fileMode", "false")
      write(dir, ".gitattributes", "* filter=evil text eol=crlf\n")
      write(dir, "a.txt", "lower case\n", 0o755)
      const output = yield* collectOutput(dir, base)
      expect(existsSync(marker)).toBe(false)
      expect(output.files).toContainEqual({ path: "a.txt", status: "modified", hash: sha256Of("lower case\n"), size: 11, executable: true })
    }))

  it.scoped("a replace ref planted by the session does not change what the base is", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      write(dir, "a.txt", "fake base\n")
      write(dir, "b.txt", "fake\n")
      const fake = yield* commitAll(dir, "fake")
      yield* git(dir, "reset", "-q", "--hard", base)
      yield* git(dir, "replace", base, fake)
      write(dir, "a.txt", "session\n")
      const output = yield* collectOutput(dir, base)
      expect(output.files.map((file) => `${file.status} ${file.path}`)).toEqual(["modified a.txt"])
      expect(Buffer.from(output.diff).toString("utf8")).toContain("-a\n+session\n")
    }))

  it.scoped("an embedded repository is skipped and said so; an unchanged tree gives an empty diff", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      expect(yield* collectOutput(dir, base)).toEqual({ diff: new Uint8Array(0), files: [], skipped: [], baseCommit: base })
      yield* git(dir, "init", "-q", "vendor/dep")
      write(dir, "vendor/dep/x", "x\n")
      const output = yield* collectOutput(dir, base)
      expect(output.files).toEqual([])
      expect(output.skipped).toEqual([{ path: "vendor/dep/", reason: "an embedded git repository" }])
    }))

  it.scoped("collects against the base even after the session committed", () =>
    Effect.gen(function*() {
      const { dir, base } = yield* repoWith({ "a.txt": "a\n" })
      const clone = yield* cloneOf(dir)
      write(clone, "a.txt", "committed\n")
      yield* commitAll(clone, "session commit")
      write(clone, "b.txt", "uncommitted\n")
      const output = yield* collectOutput(clone, base)
      expect(output.files.map((file) => `${file.status} ${file.path}`)).toEqual(["modified a.txt", "added b.txt"])
      expect(read(clone, "a.txt")).toBe("committed\n")
    }))

  it.scoped("refuses a missing base, a directory that is no repository, and a subdirectory of one", () =>
    Effect.gen(function*() {
      const { dir } = yield* repoWith({ "sub/a.txt": "a\n" })
      const missing = yield* Effect.flip(collectOutput(dir, "0123456789012345678901234567890123456789"))
      expect(missing._tag).toBe("OutputFailed")
      expect(missing.message).toContain("is not a commit")
      const option = yield* Effect.flip(collectOutput(dir, "--all"))
      expect(option.message).toContain("is not a commit")
      const plain = yield* tempDir("plain")
      expect((yield* Effect.flip(collectOutput(plain, "HEAD"))).message).toContain("not a git repository")
      expect((yield* Effect.flip(collectOutput(join(dir, "sub"), "HEAD"))).message).toContain("not its top level")
    }))
})
