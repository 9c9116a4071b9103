/**
 * The RFC 9162 tree over a chain's entry hashes, as wire objects: the tree head a receipt
 * commits to, and an inclusion proof that discloses one event without the others.
 */
import { Either, Schema } from "effect"
import { ChainEntry, type ChainEntryEncoded } from "../protocol/Event.js"
import { bytesOf, fromBytes, Sha256 } from "../protocol/Hash.js"
import { versionedDecoder, versionField } from "../protocol/Decode.js"
import { NonNegativeInt } from "../protocol/Ids.js"
import type { EventsTreeHead } from "../protocol/Receipt.js"
import { entryHash } from "./Link.js"
import { inclusionProof, rootHash, verifyInclusion } from "./Merkle.js"

const prefixedHex = /^sha256:[0-9a-f]{64}$/
const utf8 = new TextEncoder()

/**
 * The tree head over entry hashes as written (`sha256:<hex>`). The leaves' bytes share one
 * buffer instead of one allocation per event; a malformed hash is hashed as its text.
 */
export const treeHead = (hashes: ReadonlyArray<string>): EventsTreeHead => {
  const buffer = Buffer.alloc(hashes.length * 32)
  const leaves = hashes.map((hash, i) => {
    if (!prefixedHex.test(hash)) return utf8.encode(hash)
    buffer.write(hash.slice(7), i * 32, "hex")
    return buffer.subarray(i * 32, i * 32 + 32)
  })
  return { alg: "rfc9162-sha256", size: hashes.length, root: fromBytes(rootHash(leaves)) }
}

/** One disclosed event with its audit path to the receipt's tree head. */
export const EventDisclosure = Schema.Struct({
  version: versionField("disclosure"),
  entry: ChainEntry,
  leafIndex: NonNegativeInt,
  treeSize: NonNegativeInt,
  path: Schema.Array(Sha256)
})
export type EventDisclosure = typeof EventDisclosure.Type

const decodeDisclosure = versionedDecoder("disclosure", EventDisclosure)

export const discloseEvent = (entries: ReadonlyArray<ChainEntry>, index: number): EventDisclosure => {
  const leaves = entries.map((e) => bytesOf(e.hash))
  return {
    version: "warrant.disclosure.v1",
    entry: entries[index]!,
    leafIndex: index,
    treeSize: entries.length,
    path: inclusionProof(leaves, index).map(fromBytes)
  }
}

/**
 * Checks that a disclosed event is the one at `leafIndex` under `head` (taken from a receipt
 * whose signatures the caller has verified). The entry's own hash is recomputed first.
 */
export const verifyDisclosure = (input: unknown, head: EventsTreeHead): Either.Either<EventDisclosure, string> =>
  Either.flatMap(Either.mapLeft(decodeDisclosure(input), (e) => e.message), (disclosure) => {
    const raw = (input as { entry: ChainEntryEncoded }).entry
    const computed = entryHash(raw)
    if (Either.isLeft(computed) || computed.right !== raw.hash) return Either.left("the disclosed entry does not hash to its stated hash")
    if (raw.seq !== disclosure.leafIndex) return Either.left(`the entry has seq ${raw.seq} but is disclosed at index ${disclosure.leafIndex}`)
    if (disclosure.treeSize !== head.size) return Either.left(`the proof is for a tree of ${disclosure.treeSize} events; the receipt commits to ${head.size}`)
    const ok = verifyInclusion({
      leaf: bytesOf(raw.hash as Sha256),
      leafIndex: disclosure.leafIndex,
      treeSize: disclosure.treeSize,
      proof: disclosure.path.map(bytesOf),
      root: bytesOf(head.root)
    })
    return ok ? Either.right(disclosure) : Either.left("the audit path does not lead to the receipt's tree root")
  })
