/**
 * `npm run lockfile:platforms`: puts lock entries back for the other-platform builds of
 * packages that ship native code as optional dependencies (rollup, msgpackr-extract).
 *
 * Why: the package registry these machines reach carries only the linux builds of those
 * packages, so npm cannot resolve the others and leaves them out of package-lock.json; npm 11's
 * `npm ci` then refuses the lock as "out of sync". With an entry per platform (name, version,
 * os/cpu/libc) the lock is complete, and npm skips every entry that does not match the machine,
 * so nothing is ever fetched for them. Run it after any `npm install` that rewrites the lock.
 */
import { readFileSync, writeFileSync } from "node:fs"

type Entry = Record<string, unknown>
interface Lock {
  packages: Record<string, Entry>
}

const lockPath = "package-lock.json"
const lock = JSON.parse(readFileSync(lockPath, "utf8")) as Lock

/** os, cpu and libc from a platform suffix such as `linux-arm64-musl` or `win32-x64-msvc`. */
const platformOf = (suffix: string): Entry => {
  const [os, cpu, abi] = suffix.split("-") as [string, string, string | undefined]
  const libc = os !== "linux" ? undefined : abi?.startsWith("musl") ? "musl" : "glibc"
  return { os: [os], cpu: [cpu], ...(libc === undefined ? {} : { libc: [libc] }) }
}

// Which parent declares platform packages, and how each package name ends in its platform.
const families: ReadonlyArray<{ parent: string; prefix: string }> = [
  { parent: "node_modules/rollup", prefix: "@rollup/rollup-" },
  { parent: "node_modules/msgpackr-extract", prefix: "@msgpackr-extract/msgpackr-extract-" }
]

let added = 0
for (const { parent, prefix } of families) {
  const owner = lock.packages[parent]
  if (owner === undefined) continue
  const optional = (owner.optionalDependencies ?? {}) as Record<string, string>
  for (const [name, version] of Object.entries(optional)) {
    const key = `node_modules/${name}`
    if (lock.packages[key] !== undefined || !name.startsWith(prefix)) continue
    lock.packages[key] = {
      version,
      ...(owner.dev === true ? { dev: true } : {}),
      license: owner.license ?? "MIT",
      optional: true,
      ...platformOf(name.slice(prefix.length))
    }
    added++
  }
}

// npm keeps packages sorted by path; keep the diff readable.
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)))
writeFileSync(lockPath, JSON.stringify(lock, null, 2) + "\n")
console.log(`${lockPath}: ${added} platform entr${added === 1 ? "y" : "ies"} added`)
