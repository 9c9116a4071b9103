import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import type { RunRequest } from "../../src/plane/ApiModel.js"
import * as TestPlane from "../../src/testkit/TestPlane.js"
import { claimClient, claimOrFail, enrollRunner, principals, raw, runnerSide } from "./support/PlaneKit.js"
import { blob, type Blob, createRaw, policyWith, principal, putChunked, requestWith } from "./support/RunsBlobsKit.js"

// The kit's runner attests network on the process tier, so this policy demands no enforcement.
const policy = policyWith({ enforce: [] })
const plane = (settings: TestPlane.TestPlaneOptions["settings"] = {}) => Effect.provide(TestPlane.layer({ policy, settings }))

interface ErrorBody {
  readonly error: string
  readonly message: string
  readonly details: Record<string, unknown>
}

/** A directory capture whose files all ship as their own blobs. */
const shipping = (...files: ReadonlyArray<{ readonly path: string; readonly blob: Blob; readonly size?: number }>): RunRequest =>
  requestWith({
    workspace: {
      version: "warrant.manifest.v1",
      source: "directory",
      files: files.map((f) => ({ path: f.path, hash: f.blob.hash, size: f.size ?? f.blob.size, untracked: true })),
      denied: [],
      deniedPatterns: []
    }
  })

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

describe("blob upload", () => {
  it.live("checks the body against its hash: another body is refused (422 BlobRejected) and nothing is stored", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const wanted = blob("hello\n")
      const response = yield* raw(p.url, "PUT", `/blobs/${wanted.hash}`, { token: p.requesterToken, body: new TextEncoder().encode("goodbye\n"), contentType: "application/octet-stream" })
      expect(response.status).toBe(422)
      expect(response.body).toMatchObject({ error: "BlobRejected", details: { hashes: [wanted.hash] } })
      expect((response.body as ErrorBody).message).toContain(blob("goodbye\n").hash)

      const typed = yield* Effect.flip(p.requester.blobs.put({ path: { hash: wanted.hash }, payload: blob("goodbye\n").bytes }))
      expect(typed._tag).toBe("BlobRejected")
      // Stored under neither hash: not even the admin, who may read every blob, finds one.
      expect((yield* Effect.flip(p.admin.blobs.get({ path: { hash: wanted.hash } })))._tag).toBe("NotFound")
      expect((yield* Effect.flip(p.admin.blobs.get({ path: { hash: blob("goodbye\n").hash } })))._tag).toBe("NotFound")
    }).pipe(plane()))

  it.live("is idempotent: created the first time, created false the second, the content unchanged", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const b = blob("the same bytes twice\n")
      expect(yield* p.requester.blobs.put({ path: { hash: b.hash }, payload: b.bytes })).toEqual({ hash: b.hash, size: b.size, created: true })
      expect(yield* p.requester.blobs.put({ path: { hash: b.hash }, payload: b.bytes })).toEqual({ hash: b.hash, size: b.size, created: false })
      expect(text(yield* p.requester.blobs.get({ path: { hash: b.hash } }))).toBe("the same bytes twice\n")
    }).pipe(plane()))

  it.live("a runner token can neither upload (403) nor read (404) a blob, even one its pool's run references", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const b = blob("source.ts\n")
      yield* p.requester.blobs.put({ path: { hash: b.hash }, payload: b.bytes })
      yield* p.requester.runs.create({ payload: shipping({ path: "source.ts", blob: b }) })

      const read = yield* raw(p.url, "GET", `/blobs/${b.hash}`, { token: runner.token })
      expect(read.status).toBe(404)
      expect(read.body).toMatchObject({ error: "NotFound", details: { resource: "blob", id: b.hash } })
      expect((yield* Effect.flip(runner.client.blobs.get({ path: { hash: b.hash } })))._tag).toBe("NotFound")

      const other = blob("a runner's own upload\n")
      const upload = yield* raw(p.url, "PUT", `/blobs/${other.hash}`, { token: runner.token, body: other.bytes, contentType: "application/octet-stream" })
      expect(upload.status).toBe(403)
      expect((upload.body as ErrorBody).error).toBe("Forbidden")
      expect((yield* Effect.flip(p.admin.blobs.get({ path: { hash: other.hash } })))._tag).toBe("NotFound")
    }).pipe(plane()))

  it.live("a body over maxBlobBytes is refused with 413; a body without a Content-Length with 411; one at the limit is stored", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const over = blob(new Uint8Array(1025).fill(7))
      const declared = yield* raw(p.url, "PUT", `/blobs/${over.hash}`, { token: p.requesterToken, body: over.bytes, contentType: "application/octet-stream" })
      expect(declared.status).toBe(413)
      expect(declared.body).toMatchObject({ error: "PayloadTooLarge", details: { limitBytes: 1024 } })

      // Streamed without a Content-Length, a body could only be cut off mid-stream with no readable
      // answer: it is refused before a byte is read, whatever its size.
      for (const bytes of [over.bytes, new Uint8Array(1024).fill(9)]) {
        const streamed = yield* putChunked(p.url, p.requesterToken, over.hash, [bytes.subarray(0, 600), bytes.subarray(600)])
        expect(streamed.status).toBe(411)
        expect(streamed.body).toMatchObject({ error: "LengthRequired", details: { limitBytes: 1024 } })
      }
      expect((yield* Effect.flip(p.admin.blobs.get({ path: { hash: over.hash } })))._tag).toBe("NotFound")

      const atLimit = blob(new Uint8Array(1024).fill(7))
      expect(yield* p.requester.blobs.put({ path: { hash: atLimit.hash }, payload: atLimit.bytes })).toEqual({ hash: atLimit.hash, size: 1024, created: true })
    }).pipe(plane({ maxBlobBytes: 1024 })))
})

describe("blob access: knowing a hash is not access", () => {
  it.live("a get needs credentials (401)", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const b = blob("secret-ish\n")
      yield* p.requester.blobs.put({ path: { hash: b.hash }, payload: b.bytes })
      const response = yield* raw(p.url, "GET", `/blobs/${b.hash}`)
      expect(response.status).toBe(401)
      expect(response.body).toMatchObject({ error: "Unauthorized", details: { reason: "missing" } })
      expect((yield* Effect.flip(p.anonymous.blobs.get({ path: { hash: b.hash } })))._tag).toBe("Unauthorized")
      const upload = yield* raw(p.url, "PUT", `/blobs/${b.hash}`, { body: b.bytes, contentType: "application/octet-stream" })
      expect(upload.status).toBe(401)
    }).pipe(plane()))

  it.live("another requester gets 404, exactly as for a missing blob, while the uploader reads it", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const carol = yield* principal(p, "carol")
      const b = blob("alice's notes\n")
      const missing = blob("nobody uploaded this\n")
      yield* p.requester.blobs.put({ path: { hash: b.hash }, payload: b.bytes })

      expect(text(yield* p.requester.blobs.get({ path: { hash: b.hash } }))).toBe("alice's notes\n")
      const denied = yield* raw(p.url, "GET", `/blobs/${b.hash}`, { token: carol.token })
      const absent = yield* raw(p.url, "GET", `/blobs/${missing.hash}`, { token: carol.token })
      expect(denied.status).toBe(404)
      expect(absent.status).toBe(404)
      expect(denied.body).toMatchObject({ error: "NotFound", details: { resource: "blob", id: b.hash } })
      expect(JSON.stringify(denied.body).replaceAll(b.hash, "HASH")).toBe(JSON.stringify(absent.body).replaceAll(missing.hash, "HASH"))
      // An approver sees every run, but no run references this blob yet.
      expect((yield* raw(p.url, "GET", `/blobs/${b.hash}`, { token: p.approverToken })).status).toBe(404)
    }).pipe(plane()))

  it.live("a run referencing a blob opens it to the approver, the admin and that run's live claim token, never to another run's claim token", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const carol = yield* principal(p, "carol")
      const runner = yield* enrollRunner(p, "runner-a")
      const first = blob("first run's file\n")
      const second = blob("second run's file\n")
      yield* p.requester.blobs.put({ path: { hash: first.hash }, payload: first.bytes })
      yield* p.requester.blobs.put({ path: { hash: second.hash }, payload: second.bytes })
      expect((yield* Effect.flip(p.approver.blobs.get({ path: { hash: first.hash } })))._tag).toBe("NotFound")

      const one = yield* createRaw(p.url, p.requesterToken, shipping({ path: "a.txt", blob: first }))
      expect(one.status).toBe(201)
      const two = yield* createRaw(p.url, p.requesterToken, shipping({ path: "b.txt", blob: second }))
      expect(two.status).toBe(201)

      expect(text(yield* p.approver.blobs.get({ path: { hash: first.hash } }))).toBe("first run's file\n")
      expect(text(yield* p.admin.blobs.get({ path: { hash: first.hash } }))).toBe("first run's file\n")
      expect((yield* Effect.flip(carol.client.blobs.get({ path: { hash: first.hash } })))._tag).toBe("NotFound")

      const claimedOne = yield* claimOrFail(runner)
      const claimedTwo = yield* claimOrFail(runner)
      expect(claimedOne.contract.runId).toBe((one.body as { run: { runId: string } }).run.runId)
      const claimOne = yield* claimClient(p, claimedOne)
      const claimTwo = yield* claimClient(p, claimedTwo)
      expect(text(yield* claimOne.blobs.get({ path: { hash: first.hash } }))).toBe("first run's file\n")
      expect(text(yield* claimTwo.blobs.get({ path: { hash: second.hash } }))).toBe("second run's file\n")
      expect((yield* Effect.flip(claimTwo.blobs.get({ path: { hash: first.hash } })))._tag).toBe("NotFound")
      expect((yield* Effect.flip(claimOne.blobs.get({ path: { hash: second.hash } })))._tag).toBe("NotFound")

      // Once the run ends its claim token is spent: it reads nothing.
      const side = yield* runnerSide(p, runner, claimedOne)
      const runId = claimedOne.contract.runId
      yield* claimOne.runner.postEvents({ path: { runId }, payload: { entries: side.fresh } })
      yield* claimOne.runner.complete({ path: { runId }, payload: { receipt: side.receipt } })
      const spent = yield* Effect.flip(claimOne.blobs.get({ path: { hash: first.hash } }))
      expect(spent._tag).toBe("Unauthorized")
      if (spent._tag === "Unauthorized") expect(spent.details.reason).toBe("spent")
    }).pipe(plane()))

  it.live("a claim token's upload is its run's: readable by that token and by whoever may see the run", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const carol = yield* principal(p, "carol")
      const runner = yield* enrollRunner(p, "runner-a")
      yield* p.requester.runs.create({ payload: requestWith() })
      const claimed = yield* claimOrFail(runner)
      const claim = yield* claimClient(p, claimed)
      const diff = blob("diff --git a/x b/x\n")
      expect(yield* claim.blobs.put({ path: { hash: diff.hash }, payload: diff.bytes })).toEqual({ hash: diff.hash, size: diff.size, created: true })
      expect(text(yield* claim.blobs.get({ path: { hash: diff.hash } }))).toBe("diff --git a/x b/x\n")
      expect(text(yield* p.requester.blobs.get({ path: { hash: diff.hash } }))).toBe("diff --git a/x b/x\n")
      expect(text(yield* p.approver.blobs.get({ path: { hash: diff.hash } }))).toBe("diff --git a/x b/x\n")
      expect((yield* Effect.flip(carol.client.blobs.get({ path: { hash: diff.hash } })))._tag).toBe("NotFound")
    }).pipe(plane()))
})

describe("blobs a run references", () => {
  it.live("a manifest naming blobs the requester did not upload, or uploaded with another size, is refused (422 BlobRejected) listing each hash; nothing is stored", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const carol = yield* principal(p, "carol")
      const runner = yield* enrollRunner(p, "runner-a")
      const hers = blob("carol's bundle")
      const nobody = blob("never uploaded diff")
      const mine = blob("alice's file\n")
      const fine = blob("alice's other file\n")
      yield* carol.client.blobs.put({ path: { hash: hers.hash }, payload: hers.bytes })
      yield* p.requester.blobs.put({ path: { hash: mine.hash }, payload: mine.bytes })
      yield* p.requester.blobs.put({ path: { hash: fine.hash }, payload: fine.bytes })

      const asked = requestWith({
        workspace: {
          version: "warrant.manifest.v1",
          source: "git",
          baseRef: "b".repeat(40),
          bundle: { hash: hers.hash, size: hers.size },
          dirtyDiff: { hash: nobody.hash, size: nobody.size },
          files: [
            { path: "mine.txt", hash: mine.hash, size: mine.size + 1, untracked: true },
            { path: "fine.txt", hash: fine.hash, size: fine.size, untracked: true }
          ],
          denied: [],
          deniedPatterns: []
        }
      })
      const response = yield* createRaw(p.url, p.requesterToken, asked)
      expect(response.status).toBe(422)
      expect(response.body).toMatchObject({ error: "BlobRejected", details: { hashes: [hers.hash, nobody.hash, mine.hash] } })
      expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
      expect(yield* runner.client.runner.claim()).toEqual({ _tag: "empty" })
      // A failed request grants nothing: the approver still cannot read alice's blobs.
      expect((yield* Effect.flip(p.approver.blobs.get({ path: { hash: fine.hash } })))._tag).toBe("NotFound")
    }).pipe(plane()))

  it.live("the same hash declared twice with different sizes is refused: the wrong declaration is not hidden by the right one", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const b = blob("shared content\n")
      yield* p.requester.blobs.put({ path: { hash: b.hash }, payload: b.bytes })
      const response = yield* createRaw(p.url, p.requesterToken, shipping({ path: "wrong.txt", blob: b, size: b.size + 100 }, { path: "right.txt", blob: b }))
      expect(response.status).toBe(422)
      expect(response.body).toMatchObject({ error: "BlobRejected", details: { hashes: [b.hash] } })
      expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
    }).pipe(plane()))

  it.live("a manifest whose blobs are all the requester's is created (201) and the run's claim token fetches each", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const bundle = blob("PACK bundle")
      const diff = blob("diff --git a/README b/README\n")
      const file = blob("an untracked file\n")
      const blobs: ReadonlyArray<Blob> = [bundle, diff, file]
      for (const b of blobs) yield* p.requester.blobs.put({ path: { hash: b.hash }, payload: b.bytes })
      const asked = requestWith({
        workspace: {
          version: "warrant.manifest.v1",
          source: "git",
          baseRef: "c".repeat(40),
          bundle: { hash: bundle.hash, size: bundle.size },
          dirtyDiff: { hash: diff.hash, size: diff.size },
          files: [{ path: "notes.md", hash: file.hash, size: file.size, untracked: true }],
          denied: [],
          deniedPatterns: []
        }
      })
      const response = yield* createRaw(p.url, p.requesterToken, asked)
      expect(response.status).toBe(201)
      expect(response.body).toMatchObject({ _tag: "created", run: { state: "queued" } })

      const claimed = yield* claimOrFail(runner)
      expect(claimed.contract.workspace.bundle).toEqual({ hash: bundle.hash, size: bundle.size })
      const claim = yield* claimClient(p, claimed)
      for (const b of blobs) {
        const fetched = yield* claim.blobs.get({ path: { hash: b.hash } })
        expect(fetched).toEqual(b.bytes)
      }
      const viaRaw = yield* raw(p.url, "GET", `/blobs/${file.hash}`, { token: Redacted.value(claimed.claimToken) })
      expect(viaRaw).toEqual({ status: 200, body: "an untracked file\n" })
    }).pipe(plane()))

  it.live("an admin may reference any stored blob; the run then opens it to its claim token", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const b = blob("alice uploaded this\n")
      yield* p.requester.blobs.put({ path: { hash: b.hash }, payload: b.bytes })
      const response = yield* createRaw(p.url, p.adminToken, shipping({ path: "x.txt", blob: b }))
      expect(response.status).toBe(201)
      const claim = yield* claimClient(p, yield* claimOrFail(runner))
      expect(text(yield* claim.blobs.get({ path: { hash: b.hash } }))).toBe("alice uploaded this\n")
    }).pipe(plane()))
})
