/**
 * Materialise a manifest into a scoped temporary git repository: the bundle's snapshot checked
 * out, the dirty diff applied (not committed) and the untracked files written. Every blob is
 * hashed before use and every path is judged before anything is written; on every failure the
 * directory is removed at once, so nothing half-written survives.
 */
import { chmod, lstat, mkdir, readFile, rename, statfs, symlink, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Effect, Either, type Scope } from "effect"
import type { BlobRef, Manifest, ManifestFile } from "../protocol/Manifest.js"
import { type FetchBlob, hashFile } from "./Blobs.js"
import { digestBlobs } from "./CatFile.js"
import { denyMatcher, effectiveDenyPatterns } from "./DenyPatterns.js"
import { Git, type GitFailed } from "./Git.js"
import { verifyTree } from "./MaterializeVerify.js"
import { parseWorkspaceRelativePath, PathEscape, resolveInsideWorkspace } from "./Paths.js"
import { SNAPSHOT_REF, snapshotCommitEnv, WORKSPACE_BRANCH } from "./Snapshot.js"
import { symlinkEscape } from "./Symlinks.js"
import { removeTree, tempDirectory } from "./TempDir.js"
import { listTree } from "./TreeEntries.js"
import { BlobMismatch, MaterializeFailed } from "./WorkspaceError.js"

export interface Materialized {
  /** The repository, removed when the scope closes. */
  readonly directory: string
  /** The snapshot commit checked out; the shipped dirty changes and untracked files sit uncommitted on top. */
  readonly startRef: string
}

export interface MaterializeOptions {
  /** Where the temporary directories are made (default: the OS temp dir). */
  readonly parent?: string
}

const TMPFS_MAGIC = 0x01021994

/** `$GIT_DIR/info/attributes` outranks every .gitattributes in the tree. */
const RAW_ATTRIBUTES = "* -text -filter -ident -working-tree-encoding\n"

/**
 * Parallel checkout workers for the filesystem at `directory`. On a disk filesystem creating a
 * file waits on the filesystem (about 250 us each on this project's reference machine, where 8
 * workers cut a 100,000-file checkout from about 20 s to 7 s); on tmpfs it is CPU-bound and
 * extra workers only contend with the hashing that runs beside the checkout.
 */
const checkoutWorkers = (directory: string): Effect.Effect<number> =>
  Effect.promise(() => statfs(directory).then((info) => (info.type === TMPFS_MAGIC ? 1 : 8), () => 1))

const describe = (ref: BlobRef) => `${ref.hash} (${ref.size} bytes)`

/** Judgements that need no filesystem: every path well formed, none twice, none outside `.git`, none the manifest's own patterns deny. */
export const precheck = (manifest: Manifest): Either.Either<void, MaterializeFailed | PathEscape> => {
  const seen = new Set<string>()
  const deny = denyMatcher(effectiveDenyPatterns(manifest.deniedPatterns))
  for (const { path } of [...manifest.files, ...manifest.denied]) {
    const parsed = parseWorkspaceRelativePath(path)
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    if (parsed.right.split("/").some((segment) => segment.toLowerCase() === ".git")) {
      return Either.left(new PathEscape({ path, reason: "it is inside .git, where a file would configure the repository rather than be part of it" }))
    }
  }
  for (const file of manifest.files) {
    if (seen.has(file.path)) return Either.left(new MaterializeFailed({ reason: `the manifest lists ${JSON.stringify(file.path)} twice` }))
    seen.add(file.path)
    const pattern = deny.firstMatch(file.path)
    if (pattern !== undefined) {
      return Either.left(new MaterializeFailed({ reason: `the manifest ships ${JSON.stringify(file.path)}, which its deny pattern ${JSON.stringify(pattern)} refuses` }))
    }
  }
  // A file that is also a directory of another (`a` and `a/b`) cannot both be materialised.
  for (const path of seen) {
    const segments = path.split("/")
    for (let i = 1; i < segments.length; i++) {
      const prefix = segments.slice(0, i).join("/")
      if (seen.has(prefix)) {
        return Either.left(new MaterializeFailed({ reason: `the manifest lists both ${JSON.stringify(prefix)} and ${JSON.stringify(path)}, which is inside it` }))
      }
    }
  }
  if (manifest.source === "git" && (manifest.bundle === undefined || manifest.baseRef === undefined)) {
    return Either.left(new MaterializeFailed({ reason: "a git manifest without a bundle or base ref; capture the workspace again" }))
  }
  if (manifest.source === "directory" && (manifest.bundle !== undefined || manifest.dirtyDiff !== undefined || manifest.files.some((f) => f.untracked !== true))) {
    return Either.left(new MaterializeFailed({ reason: "a directory manifest ships files only as their own blobs; this one names a bundle, a diff or a file without a blob" }))
  }
  return Either.void
}

export const materialize = <E>(
  manifest: Manifest,
  fetchBlob: FetchBlob<E>,
  options: MaterializeOptions = {}
): Effect.Effect<Materialized, MaterializeFailed | BlobMismatch | PathEscape | GitFailed | E, Git | Scope.Scope> =>
  Effect.gen(function*() {
    yield* precheck(manifest)
    const git = yield* Git
    const directory = yield* tempDirectory("ws", options.parent)

    const build = Effect.gen(function*() {
      const scratch = yield* tempDirectory("materialize", options.parent)
      let fetched = 0
      // A blob lands in the scratch directory and is used only once its hash is checked.
      const fetchVerified = (ref: BlobRef, what: string) =>
        Effect.gen(function*() {
          const into = join(scratch, `blob-${fetched++}`)
          yield* fetchBlob(ref, into)
          const actual = yield* hashFile(into)
          if (actual.hash !== ref.hash || actual.size !== ref.size) {
            return yield* new BlobMismatch({ what, expected: describe(ref), actual: describe(actual) })
          }
          return into
        })
      const run = (args: ReadonlyArray<string>, env?: Record<string, string>) => git.run(directory, args, env === undefined ? {} : { env })

      // Untracked files: fetched and checked early, then judged against the real tree (a symlink
      // the bundle planted included) and moved in.
      const untracked = manifest.files.filter((file) => file.untracked === true)
      const fetchUntracked = Effect.forEach(untracked, (file) => fetchVerified(file, `the file ${file.path}`), { concurrency: 8 })
      const place = (file: ManifestFile, source: string) =>
        Effect.gen(function*() {
          const target = yield* resolveInsideWorkspace(directory, file.path)
          const existing = yield* Effect.promise(() => lstat(target).catch(() => undefined))
          if (existing !== undefined) {
            return yield* new MaterializeFailed({ reason: `the untracked file ${JSON.stringify(file.path)} is already in the tree the bundle and diff made` })
          }
          if (file.symlink === true) {
            // The blob is the link's target; it is judged once the link exists, like the bundle's.
            yield* Effect.promise(async () => {
              await mkdir(dirname(target), { recursive: true })
              await symlink(await readFile(source, "utf8"), target)
            })
            const why = yield* symlinkEscape(directory, file.path)
            if (why !== undefined) return yield* new PathEscape({ path: file.path, reason: `it is a symlink and ${why}` })
            return
          }
          yield* Effect.promise(async () => {
            await mkdir(dirname(target), { recursive: true })
            await chmod(source, file.executable === true ? 0o755 : 0o644)
            await rename(source, target)
          })
        })
      const placeAll = (sources: ReadonlyArray<string>) =>
        Effect.forEach(untracked, (file, i) => place(file, sources[i]!), { concurrency: 8, discard: true })

      let startRef: string
      let known = new Map<string, BlobRef>()
      if (manifest.source === "git") {
        const bundleFile = yield* fetchVerified(manifest.bundle!, "the bundle")
        const heads = (yield* git.run(scratch, ["bundle", "list-heads", bundleFile])).stdout.toString("utf8").trim().split("\n")
        const [oid = "", ref = ""] = heads[0]?.split(" ") ?? []
        if (heads.length !== 1 || ref !== SNAPSHOT_REF || !/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(oid)) {
          return yield* new MaterializeFailed({ reason: `the bundle must carry exactly ${SNAPSHOT_REF}; it has ${JSON.stringify(heads.slice(0, 3))}` })
        }
        startRef = oid
        yield* run(["init", "-q", `--initial-branch=${WORKSPACE_BRANCH}`, `--object-format=${oid.length === 64 ? "sha256" : "sha1"}`])
        yield* run(["fetch", "-q", "--no-tags", "--no-write-fetch-head", bundleFile, `+${SNAPSHOT_REF}:${SNAPSHOT_REF}`])
        yield* run(["update-ref", `refs/heads/${WORKSPACE_BRANCH}`, startRef])
        // The checkout is bound by file creation; meanwhile the snapshot's blobs are hashed for the
        // final check and the other blobs fetched.
        const [, snapshotDigests, diffFile, sources] = yield* Effect.all([
          run(["-c", `checkout.workers=${yield* checkoutWorkers(directory)}`, "reset", "-q", "--hard"]),
          listTree(directory, startRef).pipe(
            Effect.flatMap((entries) => digestBlobs(directory, entries.filter((e) => e.type === "blob").map((e) => e.oid), { scratch }))
          ),
          manifest.dirtyDiff === undefined ? Effect.succeed(undefined) : fetchVerified(manifest.dirtyDiff, "the dirty diff"),
          fetchUntracked
        ], { concurrency: "unbounded" })
        known = snapshotDigests
        if (diffFile !== undefined) yield* run(["apply", "--whitespace=nowarn", diffFile])
        yield* placeAll(sources)
      } else {
        // A plain directory's files become the snapshot commit, so startRef exists here too.
        yield* run(["init", "-q", `--initial-branch=${WORKSPACE_BRANCH}`])
        // The files were hashed as bytes, so git must store them as bytes: no end-of-line
        // conversion or filter a shipped .gitattributes might ask for.
        yield* Effect.promise(() => writeFile(join(directory, ".git", "info", "attributes"), RAW_ATTRIBUTES))
        yield* placeAll(yield* fetchUntracked)
        yield* run(["add", "-A", "-f"])
        yield* run(["commit", "-q", "--allow-empty", "--no-verify", "-m", "warrant snapshot of a directory"], { ...snapshotCommitEnv })
        startRef = (yield* run(["rev-parse", "--verify", "HEAD^{commit}"])).stdout.toString("utf8").trim()
      }
      yield* verifyTree(directory, scratch, manifest, known)
      return { directory, startRef }
    }).pipe(Effect.scoped)

    return yield* build.pipe(Effect.onError(() => removeTree(directory)))
  }).pipe(Effect.withSpan("Workspace.materialize"))
