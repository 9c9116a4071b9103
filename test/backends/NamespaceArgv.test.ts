/**
 * The namespace tier's pure builders: the bubblewrap options it pipes in, the launcher chain on
 * the real command line, the NUL-separated encoding, bubblewrap's JSON status, and what cannot
 * be encoded at all.
 */
import { describe, expect, it } from "@effect/vitest"
import { SANDBOX_SOCKET } from "../../src/backends/EgressBridge.js"
import {
  ARGS_FD,
  BASE_PATHS,
  baseMounts,
  bwrapArgs,
  bwrapComplaints,
  type DescribePath,
  encodeArgs,
  type HostPath,
  launcher,
  type Layout,
  parseStatus,
  STATUS_FD,
  unencodable
} from "../../src/backends/NamespaceArgv.js"

/** A host whose base system is a merged /usr: /bin, /sbin, /lib, /lib64 are links into it. */
const mergedUsr: Readonly<Record<string, HostPath>> = {
  "/usr": { kind: "directory" },
  "/bin": { kind: "symlink", target: "usr/bin" },
  "/sbin": { kind: "symlink", target: "usr/sbin" },
  "/lib": { kind: "symlink", target: "usr/lib" },
  "/lib64": { kind: "symlink", target: "usr/lib64" },
  "/etc": { kind: "directory" }
}

const describeFrom = (paths: Readonly<Record<string, HostPath>>): DescribePath => (path) => paths[path]

const tools = { prlimit: "/usr/bin/prlimit", setpriv: "/usr/bin/setpriv", bwrap: "/usr/bin/bwrap" }

const layout = (overrides: Partial<Layout> = {}): Layout => ({
  workspace: "/tmp/ws",
  cwd: "/tmp/ws/sub",
  env: { PATH: "/usr/bin:/bin", HOME: "/tmp", TOKEN: "s3cr3t" },
  readOnly: [],
  tmpBytes: 1_048_576,
  ...overrides
})

const mergedUsrMounts = [
  "--ro-bind", "/usr", "/usr",
  "--symlink", "usr/bin", "/bin",
  "--symlink", "usr/sbin", "/sbin",
  "--symlink", "usr/lib", "/lib",
  "--symlink", "usr/lib64", "/lib64",
  "--ro-bind", "/etc", "/etc"
]

const head = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--clearenv"]

describe("bwrapArgs", () => {
  it("a workspace session without a route out: the exact options, in order", () => {
    expect(bwrapArgs(layout(), describeFrom(mergedUsr))).toEqual([
      ...head,
      ...mergedUsrMounts,
      "--size", "1048576", "--tmpfs", "/tmp",
      "--bind", "/tmp/ws", "/tmp/ws",
      "--proc", "/proc",
      "--dev", "/dev",
      "--size", "1048576", "--tmpfs", "/dev/shm",
      "--remount-ro", "/dev",
      "--remount-ro", "/",
      "--chdir", "/tmp/ws/sub",
      "--setenv", "PATH", "/usr/bin:/bin",
      "--setenv", "HOME", "/tmp",
      "--setenv", "TOKEN", "s3cr3t"
    ])
  })

  it("with the egress socket and the Node binary: node bound read-only, the socket at the sandbox path", () => {
    const args = bwrapArgs(
      layout({ readOnly: ["/opt/node/bin/node"], socket: "/tmp/warrant-ns-abc/egress.sock" }),
      describeFrom(mergedUsr)
    )
    expect(args).toEqual([
      ...head,
      ...mergedUsrMounts,
      "--ro-bind", "/opt/node/bin/node", "/opt/node/bin/node",
      "--size", "1048576", "--tmpfs", "/tmp",
      "--bind", "/tmp/ws", "/tmp/ws",
      "--ro-bind", "/tmp/warrant-ns-abc/egress.sock", SANDBOX_SOCKET,
      "--proc", "/proc",
      "--dev", "/dev",
      "--size", "1048576", "--tmpfs", "/dev/shm",
      "--remount-ro", "/dev",
      "--remount-ro", "/",
      "--chdir", "/tmp/ws/sub",
      "--setenv", "PATH", "/usr/bin:/bin",
      "--setenv", "HOME", "/tmp",
      "--setenv", "TOKEN", "s3cr3t"
    ])
    expect(SANDBOX_SOCKET).toBe("/run/warrant/egress.sock")
  })

  it("a read-only path already under a base path is not bound twice", () => {
    const args = bwrapArgs(layout({ readOnly: ["/usr/bin/node", "/etc/ssl/certs", "/usrlocal/node"] }), describeFrom(mergedUsr))
    expect(args.filter((arg) => arg.includes("node") || arg.includes("ssl"))).toEqual(["/usrlocal/node", "/usrlocal/node"])
  })

  it("the /tmp tmpfs comes before the workspace bind (a workspace under /tmp is not masked), --size right before it", () => {
    const args = bwrapArgs(layout(), describeFrom(mergedUsr))
    const tmpfs = args.indexOf("--tmpfs")
    expect(args.slice(tmpfs - 2, tmpfs + 2)).toEqual(["--size", "1048576", "--tmpfs", "/tmp"])
    expect(tmpfs).toBeLessThan(args.indexOf("--bind"))
  })

  it("the environment is cleared before anything is set, and set last", () => {
    const args = bwrapArgs(layout(), describeFrom(mergedUsr))
    const setenvs = args.flatMap((arg, i) => (arg === "--setenv" ? [i] : []))
    expect(setenvs).toHaveLength(3)
    expect(args.indexOf("--clearenv")).toBeLessThan(Math.min(...setenvs))
    expect(args.slice(Math.min(...setenvs))).toHaveLength(3 * 3)
  })

  it("the probe's trial (no workspace): no bind, cwd /, nothing set", () => {
    expect(bwrapArgs({ workspace: undefined, cwd: "/", env: {}, readOnly: [], tmpBytes: 1 << 20 }, describeFrom({}))).toEqual([
      ...head,
      "--size", "1048576", "--tmpfs", "/tmp",
      "--proc", "/proc",
      "--dev", "/dev",
      "--size", "1048576", "--tmpfs", "/dev/shm",
      "--remount-ro", "/dev",
      "--remount-ro", "/",
      "--chdir", "/"
    ])
  })

  it("never shares the host network, never keeps capabilities, never binds / or the host's /proc", () => {
    const args = bwrapArgs(layout({ socket: "/s" }), describeFrom(mergedUsr))
    for (const forbidden of ["--share-net", "--cap-add", "--dev-bind", "--unshare-user-try", "--uid", "--userns", "--userns2"]) {
      expect(args).not.toContain(forbidden)
    }
    const binds = args.flatMap((arg, i) => (arg === "--bind" || arg === "--ro-bind" ? [args[i + 1]] : []))
    expect(binds).not.toContain("/")
    expect(binds).not.toContain("/proc")
    expect(binds).not.toContain("/root")
  })
})

describe("baseMounts", () => {
  it("a directory is bound read-only, a symlink recreated with its target, a missing path skipped", () => {
    expect(baseMounts(describeFrom({
      "/usr": { kind: "directory" },
      "/bin": { kind: "symlink", target: "/usr/bin" },
      "/etc": { kind: "directory" }
    }))).toEqual(["--ro-bind", "/usr", "/usr", "--symlink", "/usr/bin", "/bin", "--ro-bind", "/etc", "/etc"])
  })

  it("a base path that is a file is bound like a directory; nothing at all gives nothing", () => {
    expect(baseMounts(describeFrom({ "/lib64": { kind: "file" } }))).toEqual(["--ro-bind", "/lib64", "/lib64"])
    expect(baseMounts(() => undefined)).toEqual([])
  })

  it("asks about exactly the base paths, in order", () => {
    const asked: Array<string> = []
    baseMounts((path) => {
      asked.push(path)
      return undefined
    })
    expect(asked).toEqual([...BASE_PATHS])
    expect(BASE_PATHS).toEqual(["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"])
  })
})

describe("launcher", () => {
  it("without a drop (the runner is not root): prlimit straight to bwrap, the command after --", () => {
    expect(launcher(tools, { maxProcesses: 64 }, undefined, ["sh", "-c", "echo hi"])).toEqual([
      "/usr/bin/prlimit", "--nproc=64",
      "/usr/bin/bwrap", "--args", "3", "--json-status-fd", "4", "--",
      "sh", "-c", "echo hi"
    ])
    expect([ARGS_FD, STATUS_FD]).toEqual([3, 4])
  })

  it("with a drop: setpriv to the session's uid and gid with no supplementary groups, after the limits", () => {
    expect(launcher(tools, { maxProcesses: 256 }, { uid: 2_100_000_007, gid: 2_100_000_007 }, ["/no/such"])).toEqual([
      "/usr/bin/prlimit", "--nproc=256",
      "/usr/bin/setpriv", "--reuid=2100000007", "--regid=2100000007", "--clear-groups",
      "/usr/bin/bwrap", "--args", "3", "--json-status-fd", "4", "--",
      "/no/such"
    ])
  })

  it("with an address-space cap: --as after --nproc", () => {
    expect(launcher(tools, { maxProcesses: 8, maxAddressSpaceBytes: 4_294_967_296 }, { uid: 5, gid: 6 }, ["true"])).toEqual([
      "/usr/bin/prlimit", "--nproc=8", "--as=4294967296",
      "/usr/bin/setpriv", "--reuid=5", "--regid=6", "--clear-groups",
      "/usr/bin/bwrap", "--args", "3", "--json-status-fd", "4", "--",
      "true"
    ])
  })

  it("a command word that looks like an option stays after --, where bwrap does not read it", () => {
    const chain = launcher(tools, { maxProcesses: 1 }, undefined, ["--bind", "/", "/"])
    expect(chain.slice(chain.indexOf("--"))).toEqual(["--", "--bind", "/", "/"])
  })
})

describe("encodeArgs", () => {
  it("each argument NUL-terminated, UTF-8", () => {
    expect(Buffer.from(encodeArgs(["--setenv", "K", "v\nw ü"])).toString("utf8")).toBe("--setenv\0K\0v\nw ü\0")
    expect(encodeArgs([])).toHaveLength(0)
    expect(Buffer.from(encodeArgs(["", "x"]))).toEqual(Buffer.from("\0x\0"))
  })
})

describe("parseStatus", () => {
  it("bubblewrap's real status lines: the exit code of the exit-code record", () => {
    const text = `{ "child-pid": 12115, "cgroup-namespace": 4026532571, "ipc-namespace": 4026532569, "mnt-namespace": 4026532567, "net-namespace": 4026532572, "pid-namespace": 4026532570, "uts-namespace": 4026532568 }\n{ "exit-code": 3 }\n`
    expect(parseStatus(text)).toEqual({ _tag: "Exited", exitCode: 3 })
    expect(parseStatus(`{ "child-pid": 1 }\n{ "exit-code": 0 }`)).toEqual({ _tag: "Exited", exitCode: 0 })
  })

  it("only a child-pid record (setup or exec failed): not run", () => {
    expect(parseStatus(`{ "child-pid": 12115 }\n`)).toEqual({ _tag: "NotRun" })
    expect(parseStatus("")).toEqual({ _tag: "NotRun" })
  })

  it("garbage and malformed exit codes: not run", () => {
    expect(parseStatus("garbage\n{not json\n[1,2]\nnull\n42\n")).toEqual({ _tag: "NotRun" })
    expect(parseStatus(`{ "exit-code": "3" }`)).toEqual({ _tag: "NotRun" })
    expect(parseStatus(`{ "exit-code": 1.5 }`)).toEqual({ _tag: "NotRun" })
    expect(parseStatus(`{ "exit-code": null }`)).toEqual({ _tag: "NotRun" })
    expect(parseStatus(`{ "exitcode": 3 }`)).toEqual({ _tag: "NotRun" })
  })

  it("garbage around a valid record does not hide it", () => {
    expect(parseStatus(`noise\n  { "exit-code": 137 }  \n`)).toEqual({ _tag: "Exited", exitCode: 137 })
  })
})

describe("bwrapComplaints", () => {
  it("only lines bubblewrap prefixed, without the prefix", () => {
    expect(bwrapComplaints("bwrap: Can't find source path /x: No such file or directory\nhello\n  bwrap: indented\nbwrap: execvp /no/such: No such file or directory\n"))
      .toEqual(["Can't find source path /x: No such file or directory", "execvp /no/such: No such file or directory"])
  })
})

describe("unencodable", () => {
  it("an ordinary layout and command pass, even with newlines, quotes and $ in values", () => {
    expect(unencodable(layout({ env: { V: "a\nb 'c' \"d\" $e `f` \\g" } }), ["sh", "-c", "echo $V"])).toBeUndefined()
  })

  it("refuses a NUL in the command", () => {
    expect(unencodable(layout(), ["sh", "-c", "echo a\0--bind / /"])).toBe("the command contains a NUL character")
  })

  it("refuses a NUL in a variable's value, naming the variable", () => {
    expect(unencodable(layout({ env: { TOKEN: "abc\0--bind\0/\0/" } }), ["true"])).toBe("the environment variable TOKEN contains a NUL character")
  })

  it("refuses a name with a NUL, an = or nothing at all", () => {
    expect(unencodable(layout({ env: { "A\0B": "x" } }), ["true"])).toBe(`the environment variable name "A\\u0000B" is invalid`)
    expect(unencodable(layout({ env: { "A=B": "x" } }), ["true"])).toBe(`the environment variable name "A=B" is invalid`)
    expect(unencodable(layout({ env: { "": "x" } }), ["true"])).toBe(`the environment variable name "" is invalid`)
  })
})
