import { describe, expect, it } from "@effect/vitest"
import { failingPaths, parseLsTree, parseNumstatPaths, parseRawDiff } from "../../src/workspace/gitParse.js"

const z = (...parts: ReadonlyArray<string>) => Buffer.from(parts.map((part) => `${part}\0`).join(""), "utf8")
const oid = (c: string) => c.repeat(40)

describe("gitParse", () => {
  it("reads names verbatim between NULs: tabs, newlines and quotes survive", () => {
    expect(parseLsTree(z(`100644 blob ${oid("a")}\twith\ttab`, `120000 blob ${oid("b")}\tline\nbreak "q"`))).toEqual([
      { mode: "100644", type: "blob", oid: oid("a"), path: "with\ttab" },
      { mode: "120000", type: "blob", oid: oid("b"), path: "line\nbreak \"q\"" }
    ])
    expect(parseNumstatPaths(z("1\t0\tsp ace\tx", "-\t-\tbin"))).toEqual(["sp ace\tx", "bin"])
  })

  it("reads raw diff entries, with both names of a rename", () => {
    expect(parseRawDiff(z(
      `:100644 100755 ${oid("a")} ${oid("a")} M`, "run.sh",
      `:100644 100644 ${oid("b")} ${oid("c")} R087`, "old", "new",
      `:100644 000000 ${oid("d")} ${oid("0")} D`, "gone"
    ))).toEqual([
      { oldMode: "100644", newMode: "100755", oldOid: oid("a"), newOid: oid("a"), status: "M", path: "run.sh" },
      { oldMode: "100644", newMode: "100644", oldOid: oid("b"), newOid: oid("c"), status: "R", from: "old", path: "new" },
      { oldMode: "100644", newMode: "000000", oldOid: oid("d"), newOid: oid("0"), status: "D", path: "gone" }
    ])
  })

  it("takes failing paths from git apply's messages, only ones the patch touches, else all of them", () => {
    const stderr = [
      "error: patch failed: a: b.txt:3",
      "error: a: b.txt: patch does not apply",
      "error: affected file 'link/x' is beyond a symbolic link",
      "error: unrelated: patch does not apply"
    ].join("\n")
    expect(failingPaths(stderr, ["a: b.txt", "link/x", "c"])).toEqual(["a: b.txt", "link/x"])
    expect(failingPaths("fatal: corrupt patch at line 7", ["z", "a"])).toEqual(["a", "z"])
  })
})
