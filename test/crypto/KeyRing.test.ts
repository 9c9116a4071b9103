import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Layer, Redacted } from "effect"
import { createHash } from "node:crypto"
import * as nodeFs from "node:fs"
import * as nodePath from "node:path"
import { inspect } from "node:util"
import { toHex } from "../../src/crypto/Ed25519.js"
import { parsePublicKey } from "../../src/crypto/KeyFile.js"
import * as KeyRing from "../../src/crypto/KeyRing.js"
import * as Signer from "../../src/crypto/Signer.js"

/** A KeyRing over `<fresh temp dir>/keys`, which does not exist yet: generate must create it. */
const freshRing = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const tmp = yield* fs.makeTempDirectoryScoped({ prefix: "warrant-keyring-" })
  const directory = nodePath.join(tmp, "keys")
  const ring = yield* KeyRing.make(directory)
  return { ring, directory }
})

const modeOf = (path: string): number => nodeFs.statSync(path).mode & 0o777

const sha256HexOf = (hex: string): string => createHash("sha256").update(Buffer.from(hex, "hex")).digest("hex")

/** Rewrites one field of a private key file in place (keeping its 0600 mode). */
const rewriteKeyFile = (path: string, edit: (json: Record<string, unknown>) => Record<string, unknown>): void => {
  const json = JSON.parse(nodeFs.readFileSync(path, "utf8")) as Record<string, unknown>
  nodeFs.writeFileSync(path, JSON.stringify(edit(json), null, 2) + "\n", { mode: 0o600 })
}

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got success ${inspect(exit.value)}`)
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) throw new Error(`expected a typed failure, got ${inspect(exit.cause)}`)
  return failure
}

it.layer(NodeContext.layer)("KeyRing", (it) => {
  describe("generate", () => {
    it.scoped("writes <name>.key.json with mode 0600 and <name>.pub.json, in a 0700 directory", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        const pair = yield* ring.generate("plane")
        const privatePath = nodePath.join(directory, "plane.key.json")
        const publicPath = nodePath.join(directory, "plane.pub.json")
        expect(ring.directory).toBe(directory)
        expect(ring.privatePath("plane")).toBe(privatePath)
        expect(ring.publicPath("plane")).toBe(publicPath)
        expect(modeOf(directory)).toBe(0o700)
        expect(modeOf(privatePath)).toBe(0o600)
        expect(nodeFs.readdirSync(directory).sort()).toEqual(["plane.key.json", "plane.pub.json"])

        const privateFile = JSON.parse(nodeFs.readFileSync(privatePath, "utf8")) as Record<string, unknown>
        expect(privateFile).toEqual({
          version: "warrant.key.v1",
          alg: "ed25519",
          keyId: pair.keyId,
          publicKey: pair.publicKey,
          secretKey: toHex(Redacted.value(pair.secretKey))
        })
        const publicFile = JSON.parse(nodeFs.readFileSync(publicPath, "utf8")) as Record<string, unknown>
        expect(publicFile).toEqual({ version: "warrant.pubkey.v1", alg: "ed25519", keyId: pair.keyId, publicKey: pair.publicKey })
        expect(pair.record).toEqual({ alg: "ed25519", keyId: pair.keyId, publicKey: pair.publicKey })
      }))

    it.scoped("tightens an existing directory to mode 0700", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        nodeFs.mkdirSync(directory, { mode: 0o755 })
        nodeFs.chmodSync(directory, 0o755)
        yield* ring.generate("plane")
        expect(modeOf(directory)).toBe(0o700)
      }))

    it.scoped("derives keyId as ed25519: + sha256 hex of the raw 32-byte public key", () =>
      Effect.gen(function*() {
        const { ring } = yield* freshRing
        const pair = yield* ring.generate("plane")
        expect(pair.publicKey).toMatch(/^[0-9a-f]{64}$/)
        expect(pair.keyId).toBe(`ed25519:${sha256HexOf(pair.publicKey)}`)
      }))

    it.scoped("refuses to overwrite an existing key with KeyExists and leaves the file unchanged", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        yield* ring.generate("plane")
        const privatePath = nodePath.join(directory, "plane.key.json")
        const publicPath = nodePath.join(directory, "plane.pub.json")
        const privateBefore = nodeFs.readFileSync(privatePath, "utf8")
        const publicBefore = nodeFs.readFileSync(publicPath, "utf8")

        const error = failureOf(yield* Effect.exit(ring.generate("plane")))
        expect(error).toBeInstanceOf(KeyRing.KeyExists)
        expect(error).toMatchObject({ _tag: "KeyExists", name: "plane", path: privatePath })
        expect(error.message).toContain("refusing to overwrite")

        expect(nodeFs.readFileSync(privatePath, "utf8")).toBe(privateBefore)
        expect(nodeFs.readFileSync(publicPath, "utf8")).toBe(publicBefore)
        expect(modeOf(privatePath)).toBe(0o600)
        // The temp file the refused attempt wrote is cleaned up.
        expect(nodeFs.readdirSync(directory).sort()).toEqual(["plane.key.json", "plane.pub.json"])
      }))

    for (const name of ["../x", "A B", ""]) {
      it.scoped(`rejects the key name ${JSON.stringify(name)} with KeyFileInvalid and writes nothing`, () =>
        Effect.gen(function*() {
          const { ring, directory } = yield* freshRing
          const error = failureOf(yield* Effect.exit(ring.generate(name)))
          expect(error).toBeInstanceOf(KeyRing.KeyFileInvalid)
          expect(error).toMatchObject({ _tag: "KeyFileInvalid", path: ring.privatePath(name) })
          expect((error as KeyRing.KeyFileInvalid).reason).toContain("key names are 1-64 characters")
          expect(nodeFs.existsSync(directory)).toBe(false)
        }))
    }
  })

  describe("load", () => {
    it.scoped("returns the same keyId, publicKey and secret key that generate produced", () =>
      Effect.gen(function*() {
        const { ring } = yield* freshRing
        const generated = yield* ring.generate("plane")
        const loaded = yield* ring.load("plane")
        expect(loaded.keyId).toBe(generated.keyId)
        expect(loaded.publicKey).toBe(generated.publicKey)
        expect(loaded.record).toEqual(generated.record)
        expect(toHex(Redacted.value(loaded.secretKey))).toBe(toHex(Redacted.value(generated.secretKey)))
      }))

    it.scoped("fails with KeyNotFound naming the path for a missing key", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        const error = failureOf(yield* Effect.exit(ring.load("nobody")))
        const path = nodePath.join(directory, "nobody.key.json")
        expect(error).toBeInstanceOf(KeyRing.KeyNotFound)
        expect(error).toMatchObject({ _tag: "KeyNotFound", name: "nobody", path })
        expect(error.message).toBe(`no key named "nobody" at ${path}; generate one first`)
      }))

    it.scoped("refuses a private key readable by others (0644) with KeyFileInsecure saying chmod 600", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        yield* ring.generate("plane")
        const path = nodePath.join(directory, "plane.key.json")
        nodeFs.chmodSync(path, 0o644)
        const error = failureOf(yield* Effect.exit(ring.load("plane")))
        expect(error).toBeInstanceOf(KeyRing.KeyFileInsecure)
        expect(error).toMatchObject({ _tag: "KeyFileInsecure", path })
        expect((error as KeyRing.KeyFileInsecure).mode & 0o777).toBe(0o644)
        expect(error.message).toContain("mode 0644")
        expect(error.message).toContain(`chmod 600 ${path}`)
      }))

    it.scoped("refuses a private key file that is not JSON with KeyFileInvalid (not JSON)", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        yield* ring.generate("plane")
        const path = nodePath.join(directory, "plane.key.json")
        nodeFs.writeFileSync(path, "{ this is not json", { mode: 0o600 })
        const error = failureOf(yield* Effect.exit(ring.load("plane")))
        expect(error).toBeInstanceOf(KeyRing.KeyFileInvalid)
        expect(error).toMatchObject({ _tag: "KeyFileInvalid", path, reason: "not JSON" })
        expect(error.message).toBe(`key file ${path} is invalid: not JSON`)
      }))

    it.scoped("refuses a private key file whose publicKey is not the secret's (KeyFileInvalid)", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        yield* ring.generate("plane")
        const other = yield* ring.generate("other")
        const path = nodePath.join(directory, "plane.key.json")
        rewriteKeyFile(path, (json) => ({ ...json, publicKey: other.publicKey }))
        const error = failureOf(yield* Effect.exit(ring.load("plane")))
        expect(error).toMatchObject({ _tag: "KeyFileInvalid", path, reason: "publicKey does not match secretKey" })
      }))

    it.scoped("refuses a private key file whose keyId is not derived from the key (KeyFileInvalid)", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        yield* ring.generate("plane")
        const other = yield* ring.generate("other")
        const path = nodePath.join(directory, "plane.key.json")
        rewriteKeyFile(path, (json) => ({ ...json, keyId: other.keyId }))
        const error = failureOf(yield* Effect.exit(ring.load("plane")))
        expect(error).toMatchObject({ _tag: "KeyFileInvalid", path, reason: "keyId does not match the key" })
      }))

    it.scoped("refuses a private key file with a malformed field, naming the field", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        yield* ring.generate("plane")
        const path = nodePath.join(directory, "plane.key.json")
        rewriteKeyFile(path, (json) => ({ ...json, secretKey: "zz" }))
        const error = failureOf(yield* Effect.exit(ring.load("plane")))
        expect(error).toMatchObject({ _tag: "KeyFileInvalid", path, reason: "secretKey: expected 64 lowercase hex characters" })
      }))

    for (const name of ["../x", "A B", ""]) {
      it.scoped(`rejects the key name ${JSON.stringify(name)} with KeyFileInvalid`, () =>
        Effect.gen(function*() {
          const { ring } = yield* freshRing
          const error = failureOf(yield* Effect.exit(ring.load(name)))
          expect(error).toBeInstanceOf(KeyRing.KeyFileInvalid)
          expect((error as KeyRing.KeyFileInvalid).reason).toBe(
            "key names are 1-64 characters of a-z 0-9 . _ - starting with a letter or digit"
          )
        }))
    }

    it.scoped("never shows the secret key in String(), JSON.stringify or util.inspect of a KeyPair", () =>
      Effect.gen(function*() {
        const { ring } = yield* freshRing
        yield* ring.generate("plane")
        const pair = yield* ring.load("plane")
        const secretHex = toHex(Redacted.value(pair.secretKey))
        const secretBytes = Array.from(Redacted.value(pair.secretKey)).join(", ")
        const renderings = [String(pair), JSON.stringify(pair), inspect(pair, { depth: Infinity }), String(pair.secretKey)]
        for (const text of renderings) {
          expect(text).not.toContain(secretHex)
          expect(text).not.toContain(secretBytes)
          expect(text).not.toContain("Uint8Array")
        }
        expect(JSON.parse(JSON.stringify(pair))).toEqual({
          keyId: pair.keyId,
          publicKey: pair.publicKey,
          record: pair.record,
          secretKey: "<redacted>"
        })
        expect(inspect(pair)).toContain("<redacted>")
      }))
  })

  describe("loadOrGenerate", () => {
    it.scoped("creates the key once and then returns the same key", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        const first = yield* ring.loadOrGenerate("runner")
        const privateAfterFirst = nodeFs.readFileSync(nodePath.join(directory, "runner.key.json"), "utf8")
        const second = yield* ring.loadOrGenerate("runner")
        expect(second.keyId).toBe(first.keyId)
        expect(second.publicKey).toBe(first.publicKey)
        expect(nodeFs.readFileSync(nodePath.join(directory, "runner.key.json"), "utf8")).toBe(privateAfterFirst)
        const loaded = yield* ring.load("runner")
        expect(loaded.keyId).toBe(first.keyId)
      }))

    // One round can be lucky with scheduling; ten fresh directories make a lost race all but certain to show.
    it.scoped("run from 8 concurrent fibers yields one single key (10 rounds, fresh directory each)", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const tmp = yield* fs.makeTempDirectoryScoped({ prefix: "warrant-keyring-race-" })
        for (let round = 0; round < 10; round++) {
          const directory = nodePath.join(tmp, `keys-${round}`)
          const ring = yield* KeyRing.make(directory)
          const exits = yield* Effect.all(
            Array.from({ length: 8 }, () => Effect.exit(ring.loadOrGenerate("shared"))),
            { concurrency: "unbounded" }
          )
          const failures = exits.flatMap((exit) => Exit.isFailure(exit) ? [String(failureOf(exit))] : [])
          expect(failures, `round ${round}`).toEqual([])
          const keyIds = new Set(exits.flatMap((exit) => Exit.isSuccess(exit) ? [exit.value.keyId] : []))
          const onDisk = yield* ring.load("shared")
          expect([...keyIds], `round ${round}`).toEqual([onDisk.keyId])
          expect(nodeFs.readdirSync(directory).sort(), `round ${round}`).toEqual(["shared.key.json", "shared.pub.json"])
        }
      }))

    it.scoped("still refuses an insecure existing key rather than replacing it", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        yield* ring.generate("plane")
        const path = nodePath.join(directory, "plane.key.json")
        const before = nodeFs.readFileSync(path, "utf8")
        nodeFs.chmodSync(path, 0o640)
        const error = failureOf(yield* Effect.exit(ring.loadOrGenerate("plane")))
        expect(error).toMatchObject({ _tag: "KeyFileInsecure", path })
        expect(nodeFs.readFileSync(path, "utf8")).toBe(before)
      }))
  })

  describe("signer", () => {
    it.scoped("signs with the named key, and verifyObjectSignature accepts the signature", () =>
      Effect.gen(function*() {
        const { ring } = yield* freshRing
        const pair = yield* ring.generate("plane")
        const signer = yield* ring.signer("plane")
        expect(signer.keyId).toBe(pair.keyId)
        expect(signer.record).toEqual(pair.record)
        const object = { version: "warrant.contract.v1", runId: "r-1", signatures: [] }
        const signature = yield* signer.signObject("contract", "issuer", object)
        expect(signature).toMatchObject({ alg: "ed25519", role: "issuer", keyId: pair.keyId })
        expect(signature.sig).toMatch(/^[0-9a-f]{128}$/)
        expect(Signer.verifyObjectSignature("contract", { ...object, signatures: [signature] }, signature, pair.record)).toEqual(Either.void)

        const tampered = Signer.verifyObjectSignature("contract", { ...object, runId: "r-2" }, signature, pair.record)
        expect(Either.isLeft(tampered) && tampered.left.reason).toBe("ed25519 verification failed")
        const wrongFamily = Signer.verifyObjectSignature("receipt", object, signature, pair.record)
        expect(Either.isLeft(wrongFamily) && wrongFamily.left.reason).toBe("ed25519 verification failed")
      }))

    it.scoped("signerLayer provides a Signer for the named key, creating it on first use", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const tmp = yield* fs.makeTempDirectoryScoped({ prefix: "warrant-keyring-" })
        const directory = nodePath.join(tmp, "keys")
        const signer = yield* Effect.provide(
          Signer.Signer,
          KeyRing.signerLayer("plane").pipe(Layer.provideMerge(KeyRing.layer(directory)), Layer.provide(NodeContext.layer))
        )
        const ring = yield* KeyRing.make(directory)
        const pair = yield* ring.load("plane")
        expect(signer.keyId).toBe(pair.keyId)
      }))
  })

  describe("parsePublicKey", () => {
    it.scoped("accepts the .pub.json text the ring wrote", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        const pair = yield* ring.generate("plane")
        const text = nodeFs.readFileSync(nodePath.join(directory, "plane.pub.json"), "utf8")
        expect(parsePublicKey(text)).toEqual(Either.right(pair.record))
      }))

    it.scoped("accepts a bare hex public key, with surrounding whitespace, deriving its keyId", () =>
      Effect.gen(function*() {
        const { ring } = yield* freshRing
        const pair = yield* ring.generate("plane")
        expect(parsePublicKey(pair.publicKey)).toEqual(Either.right(pair.record))
        expect(parsePublicKey(`  ${pair.publicKey}\n`)).toEqual(Either.right(pair.record))
      }))

    it.scoped("rejects a public key file whose keyId does not match its publicKey", () =>
      Effect.gen(function*() {
        const { ring, directory } = yield* freshRing
        yield* ring.generate("plane")
        const other = yield* ring.generate("other")
        const json = JSON.parse(nodeFs.readFileSync(nodePath.join(directory, "plane.pub.json"), "utf8")) as Record<string, unknown>
        expect(parsePublicKey(JSON.stringify({ ...json, keyId: other.keyId }))).toEqual(Either.left("keyId does not match publicKey"))
      }))

    it("rejects text that is neither a hex key nor JSON", () => {
      expect(parsePublicKey("not a key")).toEqual(Either.left("not JSON"))
      // Uppercase hex is not the canonical spelling of a key, and not JSON either.
      expect(parsePublicKey("AB".repeat(32))).toEqual(Either.left("not JSON"))
    })
  })
})
