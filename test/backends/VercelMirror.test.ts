import { execFileSync } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fc from "fast-check"
import {
  batches,
  checkRemotePath,
  checkWorkdir,
  formatListing,
  type ListedEntry,
  LISTING_SCRIPT,
  listWorkspace,
  parseListing,
  planMirror,
  removeInside,
  sha256,
  writeInside
} from "../../src/backends/VercelMirror.js"
import { tempDir } from "./support/Sessions.js"

const hash = (text: string) => sha256(Buffer.from(text))

/** NUL-terminated fields, as the listing prints them. */
const record = (...fields: ReadonlyArray<string>) => fields.map((field) => `${field}\u0000`).join("")

const file = (path: string, text: string, mode = 0o644): ListedEntry => ({ path, kind: "file", mode, sha256: hash(text) })

describe("staging", () => {
  it("batches stay within both limits, keep the order, and an oversized file travels alone", () => {
    const sizes = fc.array(fc.nat({ max: 100 }), { maxLength: 60 })
    fc.assert(fc.property(sizes, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 150 }), (list, maxFiles, maxBytes) => {
      const files = list.map((size, i) => ({ path: `f${i}`, size }))
      const out = batches(files, { maxFiles, maxBytes })
      expect(out.flat()).toEqual(files)
      for (const batch of out) {
        expect(batch.length).toBeGreaterThan(0)
        expect(batch.length).toBeLessThanOrEqual(maxFiles)
        const bytes = batch.reduce((n, f) => n + f.size, 0)
        if (batch.length > 1) expect(bytes).toBeLessThanOrEqual(maxBytes)
      }
    }))
  })

  it.scoped("the walk takes regular files only, never a symlink, and skips .git, node_modules and .warrant at every depth", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("vercel-walk")
      const outside = yield* tempDir("vercel-outside")
      writeFileSync(join(outside, "secret.txt"), "outside\n")
      for (const dir of [".git", "node_modules/pkg", ".warrant", "src/node_modules", "src/.GIT", "bin"]) mkdirSync(join(root, dir), { recursive: true })
      writeFileSync(join(root, "README.md"), "r")
      writeFileSync(join(root, ".git/config"), "c")
      writeFileSync(join(root, "node_modules/pkg/index.js"), "n")
      writeFileSync(join(root, ".warrant/state"), "w")
      writeFileSync(join(root, "src/index.ts"), "i")
      writeFileSync(join(root, "src/node_modules/x.js"), "x")
      writeFileSync(join(root, "src/.GIT/HEAD"), "h")
      writeFileSync(join(root, "bin/run"), "#!/bin/sh\n")
      chmodSync(join(root, "bin/run"), 0o755)
      symlinkSync(join(outside, "secret.txt"), join(root, "leak.txt"))
      symlinkSync(outside, join(root, "leakdir"))
      const listed = yield* Effect.promise(() => listWorkspace(root))
      expect(listed).toEqual({
        files: [
          { path: "README.md", size: 1, mode: 0o644 },
          { path: "bin/run", size: 10, mode: 0o755 },
          { path: "src/index.ts", size: 1, mode: 0o644 }
        ],
        links: ["leak.txt", "leakdir"]
      })
    }))

  it("the workdir must be absolute and free of '..'", () => {
    expect(checkWorkdir("/vercel/sandbox/w/")).toEqual(Either.right("/vercel/sandbox/w"))
    expect(checkWorkdir("/")).toEqual(Either.right("/"))
    expect(checkWorkdir("relative/w")).toEqual(Either.left("the sandbox workdir \"relative/w\" must be an absolute VM path"))
    expect(checkWorkdir("/vercel/../etc")).toEqual(Either.left("the sandbox workdir \"/vercel/../etc\" must not contain '.' or '..'"))
  })
})

describe("the sandbox's listing", () => {
  const entryArb: fc.Arbitrary<ListedEntry> = fc.record({
    path: fc.string({ minLength: 1, maxLength: 30 }).filter((p) => !p.includes("\0")),
    kind: fc.constantFrom("file" as const, "symlink" as const, "other" as const),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    sha: fc.stringMatching(/^[0-9a-f]{64}$/)
  }).map(({ kind, mode, path, sha }) => ({ path, kind, mode, sha256: kind === "file" ? sha : undefined }))

  it("parses exactly what the format prints, whatever the names hold", () => {
    fc.assert(fc.property(fc.uniqueArray(entryArb, { selector: (e) => e.path, maxLength: 20 }), (entries) => {
      expect(parseListing(formatListing(entries))).toEqual(Either.right(entries))
    }))
  })

  it("a malformed listing is refused as a whole", () => {
    const ok = formatListing([file("a", "x")])
    expect(parseListing(ok.slice(0, -1))).toEqual(Either.left("the sandbox's file listing is malformed: it does not end with a NUL"))
    expect(parseListing(ok + record("f", "644"))).toEqual(Either.left("the sandbox's file listing is malformed: its fields do not come in fours"))
    expect(parseListing(record("x", "644", "-", "a"))).toEqual(Either.left("the sandbox's file listing is malformed: entry 0 has the unknown kind \"x\""))
    expect(parseListing(record("f", "644", "-", "a"))).toEqual(Either.left("the sandbox's file listing is malformed: entry 0 has an unreadable hash"))
    expect(parseListing(record("l", "9999", "-", "a"))).toEqual(Either.left("the sandbox's file listing is malformed: entry 0 has an unreadable mode"))
    expect(parseListing(ok + ok)).toEqual(Either.left("the sandbox's file listing is malformed: a path is listed twice"))
  })

  it.scoped("the real listing script, run by this host's sh, find and coreutils, lists a workdir the parser reads back", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vercel-listing")
      const odd = "we'ird \"name\"\nwith\\newline $x"
      mkdirSync(join(dir, "sub/.git"), { recursive: true })
      mkdirSync(join(dir, "node_modules"))
      writeFileSync(join(dir, "a.txt"), "a")
      writeFileSync(join(dir, "sub", odd), "odd")
      writeFileSync(join(dir, "sub/.git/config"), "never")
      writeFileSync(join(dir, "node_modules/x.js"), "never")
      writeFileSync(join(dir, "run.sh"), "#!/bin/sh\n")
      chmodSync(join(dir, "run.sh"), 0o750)
      symlinkSync("/etc/passwd", join(dir, "link"))
      execFileSync("mkfifo", [join(dir, "pipe")])
      const text = execFileSync("sh", ["-c", LISTING_SCRIPT, "sh", dir], { cwd: "/", encoding: "utf8" })
      const entries = Either.getOrThrow(parseListing(text))
      expect([...entries].sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual([
        file("a.txt", "a"),
        { path: "link", kind: "symlink", mode: 0o777, sha256: undefined },
        { path: "pipe", kind: "other", mode: statSync(join(dir, "pipe")).mode & 0o777, sha256: undefined },
        file("run.sh", "#!/bin/sh\n", 0o750),
        file(`sub/${odd}`, "odd")
      ])
      expect(execFileSync("sh", ["-c", LISTING_SCRIPT, "sh", join(dir, "missing")], { encoding: "utf8" })).toBe("")
    }))
})

describe("paths from the sandbox", () => {
  it("only a plain relative path outside the skipped directories is accepted", () => {
    expect(checkRemotePath("src/a.ts")).toBeUndefined()
    expect(checkRemotePath("we'ird \"name\"\n")).toBeUndefined()
    expect(checkRemotePath("")).toBe("a path refused because it is empty")
    expect(checkRemotePath("/etc/passwd")).toBe("a path refused because it is absolute")
    expect(checkRemotePath("../x")).toBe("a path refused because it has a '..' segment")
    expect(checkRemotePath("a/../../x")).toBe("a path refused because it has a '..' segment")
    expect(checkRemotePath("./a")).toBe("a path with a '.' or empty segment")
    expect(checkRemotePath("a//b")).toBe("a path refused because it has an empty segment")
    expect(checkRemotePath("a\\..\\b")).toBe("a path refused because it contains a backslash")
    expect(checkRemotePath("a\0b")).toBe("a path refused because it contains a NUL character")
    expect(checkRemotePath("bad\uFFFDname")).toBe("a path that is not valid UTF-8")
    expect(checkRemotePath(".git/hooks/pre-commit")).toBe("a path inside .git, which is never mirrored back")
    expect(checkRemotePath("sub/.GIT/config")).toBe("a path inside .GIT, which is never mirrored back")
    expect(checkRemotePath("node_modules/x")).toBe("a path inside node_modules, which is never mirrored back")
    expect(checkRemotePath("x".repeat(4097))).toBe("a path refused because it is longer than 4096 characters")
  })

  it("the plan: changed and new files written, missing staged files deleted, links and odd paths refused", () => {
    const staged = new Map([
      ["same.txt", { sha256: hash("same"), executable: false }],
      ["changed.txt", { sha256: hash("old"), executable: false }],
      ["chmod.sh", { sha256: hash("sh"), executable: false }],
      ["gone.txt", { sha256: hash("gone"), executable: false }],
      ["now-a-link", { sha256: hash("l"), executable: false }]
    ])
    const plan = planMirror(staged, [
      file("same.txt", "same", 0o600),
      file("changed.txt", "new"),
      file("chmod.sh", "sh", 0o755),
      file("new/file.txt", "n"),
      { path: "now-a-link", kind: "symlink", mode: 0o777, sha256: undefined },
      file("../escape", "e"),
      file("/etc/cron.d/x", "e")
    ])
    expect(plan).toEqual({
      writes: [
        { path: "changed.txt", executable: false },
        { path: "chmod.sh", executable: true },
        { path: "new/file.txt", executable: false }
      ],
      removals: ["gone.txt"],
      refusals: [
        { path: "now-a-link", reason: "a symbolic link in the sandbox, which is never followed or recreated" },
        { path: "../escape", reason: "a path refused because it has a '..' segment" },
        { path: "/etc/cron.d/x", reason: "a path refused because it is absolute" }
      ]
    })
  })
})

describe("writing back", () => {
  it.scoped("never writes through a local symlink, in a parent or at the file itself", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("vercel-write")
      const outside = yield* tempDir("vercel-outside")
      symlinkSync(outside, join(root, "out"))
      writeFileSync(join(outside, "target"), "original")
      symlinkSync(join(outside, "target"), join(root, "link.txt"))
      const write = (path: string) => Effect.promise(() => writeInside(root, path, Buffer.from("pwned"), false))
      expect(yield* write("out/new.txt")).toBe("a local parent directory is a symbolic link")
      expect(yield* write("link.txt")).toBe("the local file is a symbolic link")
      expect(yield* write("../escape.txt")).toBe("a path refused because it has a '..' segment")
      expect(readdirSync(outside)).toEqual(["target"])
      expect(readFileSync(join(outside, "target"), "utf8")).toBe("original")
      expect(yield* write("deep/er/ok.txt")).toBeUndefined()
      expect(readFileSync(join(root, "deep/er/ok.txt"), "utf8")).toBe("pwned")
    }))

  it.scoped("an existing file keeps its mode but for the execute bits; a new one is 0644 or 0755", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("vercel-mode")
      writeFileSync(join(root, "a.sh"), "old")
      chmodSync(join(root, "a.sh"), 0o640)
      yield* Effect.promise(() => writeInside(root, "a.sh", Buffer.from("new"), true))
      expect(statSync(join(root, "a.sh")).mode & 0o777).toBe(0o750)
      yield* Effect.promise(() => writeInside(root, "b.sh", Buffer.from("b"), true))
      expect(statSync(join(root, "b.sh")).mode & 0o111).not.toBe(0)
    }))

  it.scoped("a deletion removes only a regular file, then the directories it leaves empty", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("vercel-remove")
      const outside = yield* tempDir("vercel-outside")
      mkdirSync(join(root, "a/b"), { recursive: true })
      writeFileSync(join(root, "a/b/gone.txt"), "g")
      writeFileSync(join(outside, "keep"), "k")
      symlinkSync(outside, join(root, "via"))
      expect(yield* Effect.promise(() => removeInside(root, "a/b/gone.txt"))).toBeUndefined()
      expect(existsSync(join(root, "a"))).toBe(false)
      expect(yield* Effect.promise(() => removeInside(root, "via/keep"))).toBe("a local parent directory is a symbolic link")
      expect(existsSync(join(outside, "keep"))).toBe(true)
      expect(yield* Effect.promise(() => removeInside(root, "never/there.txt"))).toBeUndefined()
    }))
})
