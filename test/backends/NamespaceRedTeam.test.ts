/**
 * Red-team attacks on the namespace tier, each run for real under bubblewrap: leaving the
 * mount namespace, reading the runner through /proc, nesting namespaces, reaching the host
 * over IPv6 loopback, an abstract Unix socket or the proxy socket itself, exhausting memory
 * through tmpfs, signalling host processes, seeing or starving another session, and leaving
 * a trap in the workspace for the runner.
 * Every test is an attack that holds; those that first broke through (an inherited descriptor,
 * uncapped tmpfs) say so.
 */
import { spawn, spawnSync } from "node:child_process"
import { existsSync, lstatSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { networkInterfaces, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, type Scope } from "effect"
import type { PreparedCommand, PreparedExecution } from "../../src/backends/Execution.js"
import { httpUpstream } from "../egress/support/ProxyHarness.js"
import { guard, lines, mkfifo, namespaceTier, readFifo, release, runFresh, runIn } from "./support/Namespace.js"
import { argv, dead, killLater, released, secretRef, sh, tempDir } from "./support/Sessions.js"

// ---------------------------------------------------------------------------------------------
// Support
// ---------------------------------------------------------------------------------------------

const UIDS = { first: 2_100_200_000, count: 64 }
const TMP_BYTES = 1 << 20
const tier = namespaceTier({ maxProcesses: 64, tmpBytes: TMP_BYTES, uids: UIDS })

const bash = (script: string): PreparedCommand => ({ kind: "shell", shell: "bash", script })

/** The runner's Node binary, as the sandbox sees it when the bridge binds it in. */
const node = realpathSync(process.execPath)

/** A route out exists (the bridge runs, Node is bound in) but allows nothing reachable here. */
const bridged: Partial<PreparedExecution> = { egressProxy: true, network: { defaultDeny: true, allowHosts: ["allowed.invalid"] } }

/** A server counting the connections it accepts, closed with the scope. */
const countingServer = (listen: (server: Server, ready: () => void) => void): Effect.Effect<{ server: Server; accepted: () => number }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: Server; accepted: () => number }>((resume) => {
      let accepted = 0
      const server = createServer((socket) => {
        accepted++
        socket.destroy()
      })
      listen(server, () => resume(Effect.succeed({ server, accepted: () => accepted })))
    }),
    ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

const portOf = (server: Server) => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}

/** A directory outside the workspace and /tmp, anyone may write to, removed with the scope. */
const outsideDir = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = mkdtempSync("/var/tmp/warrant-ns-redteam-")
    spawnSync("chmod", ["0777", dir])
    return dir
  }),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Host paths under `dir` (recursively, never through a symlink) owned by `uid`. */
const ownedBy = (dir: string, uid: number): Array<string> => {
  const found: Array<string> = []
  const walk = (path: string) => {
    const info = lstatSync(path, { throwIfNoEntry: false })
    if (info === undefined) return
    if (info.uid === uid) found.push(path)
    if (info.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name))
  }
  walk(dir)
  return found
}

// ---------------------------------------------------------------------------------------------
// The mount namespace
// ---------------------------------------------------------------------------------------------

describe("leaving the mount namespace", () => {
  it.scopedLive("/proc/1/root, /proc/self/root and /proc/1/cwd lead back into the sandbox, never to the host's /", () =>
    Effect.gen(function*() {
      const outside = yield* outsideDir
      writeFileSync(join(outside, "host.txt"), "HOST-ONLY\n", { mode: 0o644 })
      const result = yield* runFresh(tier, sh(
        `readlink /proc/1/root /proc/self/root; ls -A /proc/1/root | tr '\\n' ' '; echo; ` +
          `cat /proc/1/root${outside}/host.txt /proc/self/root${outside}/host.txt /proc/1/root/../../${outside}/host.txt 2>&1 | sed 's/^cat: //'; ` +
          `ls /proc/1/root/root /proc/1/cwd/../../var 2>&1`
      ))
      expect(result.log).not.toContain("HOST-ONLY")
      const [root1, rootSelf, listing, ...rest] = lines(result.log)
      expect([root1, rootSelf]).toEqual(["/", "/"])
      expect(listing!.split(" ")).toEqual(expect.arrayContaining(["dev", "etc", "proc", "tmp", "usr"]))
      expect(listing).not.toMatch(/\b(root|home|var|srv|opt|run)\b/)
      expect(rest).toEqual([
        `/proc/1/root${outside}/host.txt: No such file or directory`,
        `/proc/self/root${outside}/host.txt: No such file or directory`,
        `/proc/1/root/../../${outside}/host.txt: No such file or directory`,
        "ls: cannot access '/proc/1/root/root': No such file or directory",
        "ls: cannot access '/proc/1/cwd/../../var': No such file or directory"
      ])
    }))

  it.scopedLive("no descriptor of bubblewrap's PID 1 points outside: /proc/1/fd holds only stdio and an eventfd", () =>
    Effect.gen(function*() {
      const result = yield* runFresh(tier, sh(`for f in /proc/1/fd/*; do printf '%s -> %s\\n' "\${f##*/}" "$(readlink "$f")"; done`))
      const targets = lines(result.log).map((line) => line.slice(line.indexOf(" -> ") + 4))
      for (const target of targets) expect(target).toMatch(/^(\/dev\/null|socket:\[\d+\]|pipe:\[\d+\]|anon_inode:\[eventfd\])$/)
      expect(targets.some((target) => target.startsWith("/") && target !== "/dev/null")).toBe(false)
    }))

  it.scopedLive("a directory descriptor the runner inherited (not close-on-exec) does not reach the sandbox: its number is /dev/null there", () =>
    Effect.gen(function*() {
      const outside = yield* outsideDir
      writeFileSync(join(outside, "host.txt"), "HOST-ONLY-THROUGH-FD\n", { mode: 0o644 })
      const workspace = yield* tempDir("ns-redteam")
      // A runner started by a parent that left fd 200 open on a host directory (as shells,
      // supervisors and CI agents do): Node's spawn, prlimit, setpriv and bubblewrap all pass it on.
      const runner = fileURLToPath(new URL("./support/namespace-session.ts", import.meta.url))
      const script = `readlink /proc/self/fd/200; cat /proc/self/fd/200/host.txt; echo pwned > /proc/self/fd/200/pwned.txt; true`
      const output = yield* guard(Effect.async<string>((resume) => {
        const child = spawn("bash", [
          "-c",
          `exec 200<"$1"; shift; exec "$@"`,
          "bash",
          outside,
          process.execPath,
          "--import",
          "tsx",
          runner,
          String(UIDS.first + 32),
          workspace,
          script
        ], { stdio: ["ignore", "pipe", "inherit"] })
        const chunks: Array<Buffer> = []
        child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk))
        child.once("close", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
        return Effect.sync(() => void child.kill("SIGKILL"))
      }), "the separate runner's session", 30)
      const result = JSON.parse(output) as { log: string }
      // Unfixed, the log held "HOST-ONLY-THROUGH-FD" and pwned.txt appeared on the host, owned by
      // the session's uid: a full escape of the mount namespace. Each spawn now covers the
      // runner's inherited descriptors with /dev/null.
      expect(result.log).not.toContain("HOST-ONLY-THROUGH-FD")
      expect(existsSync(join(outside, "pwned.txt"))).toBe(false)
      expect(lines(result.log)[0]).toBe("/dev/null")
    }))

  it.scopedLive("mount, unshare, a nested bubblewrap and a new user namespace all fail", () =>
    Effect.gen(function*() {
      const result = yield* runFresh(tier, sh(
        `exec 2>&1; mount -t tmpfs none /tmp 2>&1 | head -1; mount --bind / /tmp 2>&1 | head -1; ` +
          `unshare -U true; unshare -Ur true; unshare -m true; unshare -n true; ` +
          `bwrap --ro-bind / / true; echo "bwrap rc=$?"; ` +
          `grep -E '^Cap(Eff|Bnd)' /proc/self/status`
      ))
      expect(lines(result.log)).toEqual([
        "mount: /tmp: must be superuser to use mount.",
        "mount: /tmp: must be superuser to use mount.",
        "unshare: unshare failed: No space left on device",
        "unshare: unshare failed: No space left on device",
        "unshare: unshare failed: Operation not permitted",
        "unshare: unshare failed: Operation not permitted",
        "bwrap: Creating new namespace failed: nesting depth or /proc/sys/user/max_*_namespaces exceeded (ENOSPC)",
        "bwrap rc=1",
        "CapEff:\t0000000000000000",
        "CapBnd:\t0000000000000000"
      ])
    }))

  it.scopedLive("/etc/shadow is unreadable, /sys is absent, kernel knobs cannot be written, a hard link to /etc is refused", () =>
    Effect.gen(function*() {
      expect(statSync("/etc/shadow").mode & 0o004).toBe(0)
      const result = yield* runFresh(tier, sh(
        `exec 2>&1; cat /etc/shadow; ls /sys; echo '|/tmp/x' > /proc/sys/kernel/core_pattern; echo 1 > /proc/sysrq-trigger; ln /etc/passwd pw; true`
      ))
      expect(lines(result.log)).toEqual([
        "cat: /etc/shadow: Permission denied",
        "ls: cannot access '/sys': No such file or directory",
        "sh: 1: cannot create /proc/sys/kernel/core_pattern: Permission denied",
        // bubblewrap covers /proc/sys read-only and /proc/sysrq-trigger with nothing.
        "sh: 1: cannot create /proc/sysrq-trigger: Directory nonexistent",
        "ln: failed to create hard link 'pw' => '/etc/passwd': Invalid cross-device link"
      ])
    }))

  it.scopedLive("a symlink planted in the workspace before the session points at nothing inside; '..' from the workspace stays in the sandbox", () =>
    Effect.gen(function*() {
      const outside = yield* outsideDir
      writeFileSync(join(outside, "host.txt"), "HOST-ONLY\n", { mode: 0o644 })
      const workspace = yield* tempDir("ns-redteam")
      symlinkSync(join(outside, "host.txt"), join(workspace, "planted"))
      symlinkSync(outside, join(workspace, "planted-dir"))
      const name = `warrant-ns-up-${process.pid}`
      const result = yield* runIn(tier, workspace, sh(`exec 2>&1; cat planted; echo x > planted-dir/new.txt; echo x > ../${name} && echo "wrote ../${name}"`))
      expect(lines(result.log)).toEqual([
        "cat: planted: No such file or directory",
        "sh: 1: cannot create planted-dir/new.txt: Directory nonexistent",
        `wrote ../${name}`
      ])
      expect(existsSync(join(outside, "new.txt"))).toBe(false)
      expect(existsSync(join(tmpdir(), name))).toBe(false)
    }))
})

// ---------------------------------------------------------------------------------------------
// The runner through /proc
// ---------------------------------------------------------------------------------------------

describe("the runner through /proc", () => {
  it.scopedLive("/proc holds only the sandbox's processes: the runner's pid, cmdline, environ and memory are out of reach", () =>
    Effect.gen(function*() {
      const result = yield* runFresh(tier, sh(
        `ls -d /proc/[0-9]* | wc -l; cat /proc/[0-9]*/cmdline | tr '\\0' ' '; echo; ` +
          `cat /proc/${process.pid}/environ /proc/${process.pid}/mem 2>&1 | head -2`
      ))
      const [count, cmdlines, ...rest] = lines(result.log)
      // bwrap's PID 1, sh, ls/cat and the pipeline's helpers.
      expect(Number(count)).toBeLessThanOrEqual(6)
      expect(cmdlines).not.toContain("vitest")
      expect(cmdlines).not.toContain("node")
      expect(rest).toEqual([
        `cat: /proc/${process.pid}/environ: No such file or directory`,
        `cat: /proc/${process.pid}/mem: No such file or directory`
      ])
    }))
})

// ---------------------------------------------------------------------------------------------
// The network
// ---------------------------------------------------------------------------------------------

describe("reaching the host's network", () => {
  it.scopedLive("IPv6 loopback (::1), the host's own addresses and the bridge port over IPv6 are unreachable, with the bridge running", () =>
    Effect.gen(function*() {
      const v6 = yield* countingServer((server, ready) => server.listen({ host: "::1", port: 0 }, ready))
      const wildcard = yield* countingServer((server, ready) => server.listen({ host: "0.0.0.0", port: 0 }, ready))
      const external = Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === "IPv4" && !i.internal)?.address
      const targets = [`::1/${portOf(v6.server)}`, `::1/3128`, `127.0.0.1/${portOf(wildcard.server)}`, ...(external === undefined ? [] : [`${external}/${portOf(wildcard.server)}`])]
      const result = yield* runFresh(tier, bash(
        targets.map((t) => `(exec 3<>/dev/tcp/${t}) 2>/dev/null && echo "reached ${t}" || echo "refused ${t}"`).join("; ")
      ), bridged)
      expect(lines(result.log)).toEqual(targets.map((t) => `refused ${t}`))
      expect([v6.accepted(), wildcard.accepted()]).toEqual([0, 0])
      expect(result.network).toEqual([])
    }))

  it.scopedLive("an abstract Unix socket the host listens on is not reachable (abstract sockets are per network namespace)", () =>
    Effect.gen(function*() {
      const name = `warrant-test-${process.pid}-${Date.now()}`
      const host = yield* countingServer((server, ready) => server.listen({ path: `\0${name}` }, ready))
      const result = yield* runFresh(tier, argv(node, "-e", [
        `const net = require("node:net")`,
        `const s = net.connect({ path: "\\0${name}" })`,
        `s.on("connect", () => { console.log("connected"); process.exit(0) })`,
        `s.on("error", (e) => { console.log(e.code); process.exit(0) })`
      ].join("\n")), bridged)
      expect(result.log).toBe("ECONNREFUSED\n")
      expect(host.accepted()).toBe(0)
      const listing = yield* runFresh(tier, sh(`grep -c '@${name}' /proc/net/unix`), bridged)
      expect(listing.log).toBe("0\n")
    }))

  it.scopedLive("the proxy socket reached directly enforces the same policy: a host port not allowed is refused and recorded", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const result = yield* runFresh(tier, sh(
        `exec 2>&1; ${node} -e "${direct(`GET http://127.0.0.1:${upstream.port}/direct HTTP/1.1`, `127.0.0.1:${upstream.port}`)}"; ` +
          `${node} -e "${direct(`CONNECT 127.0.0.1:${upstream.port} HTTP/1.1`, `127.0.0.1:${upstream.port}`)}"; ` +
          `curl -sS -p -x http://127.0.0.1:3128 http://127.0.0.1:${upstream.port}/tunnel; echo "rc=$?"`
      ), bridged)
      expect(lines(result.log)).toEqual([
        "HTTP/1.1 403 Forbidden",
        "HTTP/1.1 403 Forbidden",
        "curl: (56) CONNECT tunnel failed, response 403",
        "rc=56"
      ])
      expect(upstream.requests).toEqual([])
      expect(result.network.map((d) => [d.kind, d.host, d.port, d.decision, d.reason])).toEqual([
        ["http", "127.0.0.1", upstream.port, "blocked", "not-allowlisted"],
        ["connect", "127.0.0.1", upstream.port, "blocked", "not-allowlisted"],
        ["connect", "127.0.0.1", upstream.port, "blocked", "not-allowlisted"]
      ])
    }))

  it.scopedLive("the socket path cannot be written, removed or re-permissioned; the host's socket is untouched", () =>
    Effect.gen(function*() {
      const result = yield* runFresh(tier, sh(
        `exec 2>&1; ls -l /run/warrant/egress.sock | cut -c1-10; echo x > /run/warrant/egress.sock; rm -f /run/warrant/egress.sock; ` +
          `chmod 777 /run/warrant/egress.sock; ln -sf /tmp/evil /run/warrant/egress.sock; ls -l /run/warrant/egress.sock | cut -c1-10; ` +
          `curl -sS http://denied.example/`
      ), bridged)
      expect(lines(result.log)).toEqual([
        "srw-------",
        "sh: 1: cannot create /run/warrant/egress.sock: No such device or address",
        "rm: cannot remove '/run/warrant/egress.sock': Read-only file system",
        "chmod: changing permissions of '/run/warrant/egress.sock': Read-only file system",
        "ln: failed to create symbolic link '/run/warrant/egress.sock': Read-only file system",
        "srw-------",
        "warrant egress: denied.example is not in the allowlist"
      ])
      expect(result.network.map((d) => [d.host, d.decision])).toEqual([["denied.example", "blocked"]])
    }))
})

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

describe("exhausting resources", () => {
  it.scopedLive("/tmp stops at its size cap", () =>
    Effect.gen(function*() {
      const result = yield* runFresh(tier, sh(`dd if=/dev/zero of=/tmp/fill bs=64k count=64 2>&1 | head -1; stat -c %s /tmp/fill`))
      expect(lines(result.log)).toEqual([
        "dd: error writing '/tmp/fill': No space left on device",
        String(TMP_BYTES)
      ])
    }))

  it.scopedLive("the sandbox's root and /dev/shm cannot take memory beyond tmpBytes (root read-only, /dev/shm capped)", () =>
    Effect.gen(function*() {
      const result = yield* runFresh(tier, sh(
        `for f in /fill /dev/shm/fill; do dd if=/dev/zero of=$f bs=64k count=64 2>/dev/null; stat -c "$f %s" $f 2>/dev/null; done; true`
      ))
      // Unfixed, "/fill 4194304\n/dev/shm/fill 4194304\n": bubblewrap's root and --dev tmpfs have
      // no size option (the kernel's default is half the host's RAM).
      expect(result.log).toContain("/dev/shm/fill")
      for (const line of lines(result.log)) {
        expect(Number(line.split(" ")[1]), line).toBeLessThanOrEqual(TMP_BYTES)
      }
    }))

  it.scopedLive("a fork bomb in one session does not starve a concurrent session (each has its own uid and budget)", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("ns-redteam")
      const full = mkfifo(workspace, "full")
      const go = mkfifo(workspace, "go")
      const bomb = yield* Effect.fork(runIn(tier, workspace, bash(
        `:(){ :|:& };: ; while true; do pids=(/proc/[0-9]*); [ \${#pids[@]} -ge 48 ] && break; done; echo "\${#pids[@]}" > full; read x < go`
      ), { timeoutMs: 20_000 }))
      expect(Number(yield* readFifo(full, "the fork bomb filling its cap"))).toBeGreaterThanOrEqual(48)
      const neighbour = yield* runFresh(tier, sh(`n=0; for i in $(seq 1 20); do sh -c 'exit 0' && n=$((n+1)); done; echo "$n forks"`))
      yield* release(go)
      const bombed = yield* guard(Fiber.join(bomb), "the fork bomb session's end", 25)
      expect(neighbour.log).toBe("20 forks\n")
      expect(bombed.timedOut).toBe(false)
    }))
})

// ---------------------------------------------------------------------------------------------
// Other processes and sessions
// ---------------------------------------------------------------------------------------------

describe("other processes and sessions", () => {
  it.scopedLive("a host process, even one running as the very uid the session gets, cannot be signalled", () =>
    Effect.gen(function*() {
      const uid = UIDS.first
      const victim = spawn("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "sleep", "1000"], { stdio: "ignore" })
      yield* killLater(victim.pid!)
      const rootVictim = spawn("sleep", ["1000"], { stdio: "ignore" })
      yield* killLater(rootVictim.pid!)
      const result = yield* runFresh(tier, sh(`id -u; kill -9 ${victim.pid}; kill -9 ${rootVictim.pid}; kill -9 -1; echo "rc=$?"`))
      // kill -1 reaches only the sandbox's own processes: none but the shell itself and PID 1.
      // stdout and stderr are separate pipes: their lines interleave in either order.
      expect(lines(result.log).filter((line) => line !== "").sort()).toEqual([
        String(uid),
        "rc=1",
        "sh: 1: kill: No such process",
        "sh: 1: kill: No such process",
        "sh: 1: kill: No such process"
      ])
      expect([dead(victim.pid!), dead(rootVictim.pid!)]).toEqual([false, false])
    }))

  it.scopedLive("a session sees nothing of a concurrent session: not its processes, workspace, environment or secret", () =>
    Effect.gen(function*() {
      const wsA = yield* tempDir("ns-redteam-a")
      const ready = mkfifo(wsA, "ready")
      const go = mkfifo(wsA, "go")
      writeFileSync(join(wsA, "a-file.txt"), "A-WORKSPACE-CONTENT\n", { mode: 0o644 })
      const victim = yield* Effect.fork(runIn(tier, wsA, sh(`id -u > ready; read x < go`), { env: { A_TOKEN: secretRef("A") } }, [
        released("A", "session-a-secret-value")
      ]))
      const uidA = Number(yield* readFifo(ready, "session A's start"))
      const attacker = yield* runFresh(tier, sh(
        `ls -d /proc/[0-9]* | wc -l; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c A_TOKEN; ` +
          `cat ${wsA}/a-file.txt 2>&1; ls /tmp | wc -l; id -u`
      ))
      yield* release(go)
      yield* guard(Fiber.join(victim), "session A's end")
      const [count, tokens, file, tmpEntries, uidB] = lines(attacker.log)
      expect(Number(count)).toBeLessThanOrEqual(6)
      expect(tokens).toBe("0")
      expect(file).toBe(`cat: ${wsA}/a-file.txt: No such file or directory`)
      expect(tmpEntries).toBe("1")
      expect(Number(uidB)).not.toBe(uidA)
      expect(attacker.log).not.toContain("session-a-secret-value")
    }))
})

// ---------------------------------------------------------------------------------------------
// Traps left for the runner
// ---------------------------------------------------------------------------------------------

describe("traps left in the workspace for the runner", () => {
  it.scopedLive("a setuid copy of sh made inside is not a setuid-root binary once the workspace is given back", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("ns-redteam")
      const result = yield* runIn(tier, workspace, sh(`id -u; cp /bin/sh rootsh; chmod 6755 rootsh; mkdir dir; chmod 2777 dir; stat -c %a rootsh`))
      const [uid, mode] = lines(result.log)
      expect(mode).toBe("6755")
      const info = lstatSync(join(workspace, "rootsh"))
      expect(info.uid).toBe(0)
      // Root's chown clears set-user-ID (and set-group-ID on an executable).
      expect((info.mode & 0o7777).toString(8)).toBe("755")
      // Nothing on the host is left to the session's uid: the workspace and the session's directory.
      expect(ownedBy(workspace, Number(uid))).toEqual([])
      expect(readdirSync(tmpdir()).filter((name) => lstatSync(join(tmpdir(), name), { throwIfNoEntry: false })?.uid === Number(uid))).toEqual([])
    }))
})

describe("racing the restore", () => {
  it.scopedLive("a background writer still running at the timeout leaves nothing owned by the session's uid", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("ns-redteam")
      const result = yield* guard(runIn(tier, workspace, bash(
        `id -u; mkdir d; (while true; do echo x > "d/f$RANDOM"; mv d d2 2>/dev/null; mv d2 d 2>/dev/null; done) & sleep 1000`
      ), { timeoutMs: 800 }), "the timed-out session's end")
      expect(result).toMatchObject({ exitCode: 124, timedOut: true })
      const uid = Number(lines(result.log)[0])
      expect(uid).toBeGreaterThanOrEqual(UIDS.first)
      // The writer really ran; had it outlived the sandbox, its later files would be the uid's.
      expect(readdirSync(join(workspace, existsSync(join(workspace, "d")) ? "d" : "d2")).length).toBeGreaterThan(0)
      expect(ownedBy(workspace, uid)).toEqual([])
    }))
})

/**
 * A `node -e` program (for a double-quoted shell word) that writes one request head straight
 * to the proxy's socket, bypassing the bridge, and prints the response's status line.
 */
function direct(requestLine: string, host: string): string {
  return [
    `const s = require('node:net').connect('/run/warrant/egress.sock')`,
    `s.on('connect', () => s.write('${requestLine}\\r\\nHost: ${host}\\r\\n\\r\\n'))`,
    `let got = ''`,
    `s.on('data', (d) => { got += d; const i = got.indexOf('\\r\\n'); if (i >= 0) { console.log(got.slice(0, i)); process.exit(0) } })`,
    `s.on('error', (e) => { console.log(e.code); process.exit(0) })`
  ].join("; ")
}
