/**
 * RFC 9162 (Certificate Transparency v2) Merkle Tree Hash over SHA-256,
 * with inclusion proof generation (§2.1.3.1) and verification (§2.1.3.2).
 */
import { createHash, hash, timingSafeEqual } from "node:crypto"

const HASH_SIZE = 32
// Domain separation between leaves and interior nodes (RFC 9162 §2.1.1);
// without it a node could be passed off as a leaf (second-preimage attack).
const LEAF_PREFIX = Uint8Array.of(0x00)
const NODE_PREFIX = Uint8Array.of(0x01)

// Internally a digest is a 32-character latin1 string: node's one-shot `crypto.hash` returns
// one for a fraction of what a Buffer result costs (0.4 µs against 1.6 µs here), and a tree of
// 10,000 events takes 20,000 of them. Exported values are plain Uint8Arrays.
type Digest = string

const nodeScratch = Buffer.alloc(1 + 2 * HASH_SIZE)
nodeScratch[0] = NODE_PREFIX[0]!
const leafScratch = Buffer.alloc(1 + HASH_SIZE)
leafScratch[0] = LEAF_PREFIX[0]!

const leafDigest = (data: Uint8Array): Digest => {
  if (data.length !== HASH_SIZE) return createHash("sha256").update(LEAF_PREFIX).update(data).digest("binary")
  leafScratch.set(data, 1)
  return hash("sha256", leafScratch, "binary")
}

const nodeDigest = (left: Digest, right: Digest): Digest => {
  nodeScratch.write(left, 1, "latin1")
  nodeScratch.write(right, 1 + HASH_SIZE, "latin1")
  return hash("sha256", nodeScratch, "binary")
}

const toBytes = (digest: Digest): Uint8Array => {
  const b = Buffer.from(digest, "latin1")
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

const fromBytes = (bytes: Uint8Array): Digest => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")

export const emptyRoot: Uint8Array = toBytes(createHash("sha256").digest("binary"))

export const leafHash = (data: Uint8Array): Uint8Array => toBytes(leafDigest(data))

/** Interior node hash of two 32-byte children (other lengths are hashed as given). */
export const nodeHash = (left: Uint8Array, right: Uint8Array): Uint8Array =>
  left.length === HASH_SIZE && right.length === HASH_SIZE
    ? toBytes(nodeDigest(fromBytes(left), fromBytes(right)))
    : toBytes(createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest("binary"))

export const constantTimeEqual = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && timingSafeEqual(a, b)

/*
 * Level-by-level reduction: pair nodes left to right and carry an odd last
 * node up unchanged. This equals the RFC's recursive split at k (the largest
 * power of two < n): at every level below log2(k) the boundary at k is even,
 * so no pair straddles it; the left half reduces to its perfect-tree root and
 * the right half (n - k <= k leaves) reduces, by induction, to MTH(D[k:n])
 * within those log2(k) levels and is then only carried; the last level pairs
 * the two. The same argument gives the audit path below.
 *
 * `level` is overwritten in place: slot i is written only after slots 2i and
 * 2i + 1 (both >= i) have been read.
 */
const reduceLevel = (level: Array<Digest>): void => {
  const length = level.length
  let write = 0
  for (let read = 0; read + 1 < length; read += 2) {
    level[write++] = nodeDigest(level[read]!, level[read + 1]!)
  }
  if (length % 2 === 1) level[write++] = level[length - 1]!
  level.length = write
}

export const rootHash = (leaves: ReadonlyArray<Uint8Array>): Uint8Array => {
  // A fresh digest, so a caller mutating the result cannot corrupt emptyRoot.
  if (leaves.length === 0) return toBytes(createHash("sha256").digest("binary"))
  const level = leaves.map(leafDigest)
  while (level.length > 1) reduceLevel(level)
  return toBytes(level[0]!)
}

export const inclusionProof = (
  leaves: ReadonlyArray<Uint8Array>,
  index: number
): ReadonlyArray<Uint8Array> => {
  const size = leaves.length
  if (!Number.isInteger(index) || index < 0 || index >= size) {
    throw new RangeError(
      `inclusionProof: leaf index ${String(index)} is not an integer in [0, ${size})`
    )
  }
  const level = leaves.map(leafDigest)
  const proof: Array<Digest> = []
  let position = index
  while (level.length > 1) {
    // A node with no right sibling is carried up, so it contributes nothing.
    const sibling = position % 2 === 1 ? position - 1 : position + 1
    if (sibling < level.length) proof.push(level[sibling]!)
    reduceLevel(level)
    position = Math.floor(position / 2)
  }
  return proof.map(toBytes)
}

const isSize = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

// Halving by division, not `>>`, so sizes beyond 2^31 stay exact.
const half = (n: number): number => Math.floor(n / 2)

/**
 * RFC 9162 §2.1.3.2, step for step. Malformed input of any kind yields
 * false: a verifier fed attacker-controlled proofs must not be crashable.
 */
export const verifyInclusion = (input: {
  readonly leaf: Uint8Array
  readonly leafIndex: number
  readonly treeSize: number
  readonly proof: ReadonlyArray<Uint8Array>
  readonly root: Uint8Array
}): boolean => {
  try {
    const { leaf, leafIndex, treeSize, proof, root } = input
    if (!(leaf instanceof Uint8Array) || !(root instanceof Uint8Array)) return false
    if (root.length !== HASH_SIZE || !Array.isArray(proof)) return false
    if (!isSize(leafIndex) || !isSize(treeSize)) return false
    // Step 1.
    if (leafIndex >= treeSize) return false
    // Steps 2 and 3.
    let fn = leafIndex
    let sn = treeSize - 1
    let r = leafDigest(leaf)
    // Step 4.
    for (const p of proof) {
      if (!(p instanceof Uint8Array) || p.length !== HASH_SIZE) return false
      // 4a: the path is longer than the tree is deep.
      if (sn === 0) return false
      if (fn % 2 === 1 || fn === sn) {
        r = nodeDigest(fromBytes(p), r)
        // 4b.ii: skip levels where this node was carried up without a sibling
        // (a no-op when LSB(fn) is already set).
        while (fn % 2 === 0 && fn !== 0) {
          fn = half(fn)
          sn = half(sn)
        }
      } else {
        r = nodeDigest(r, fromBytes(p))
      }
      fn = half(fn)
      sn = half(sn)
    }
    // Step 5: sn !== 0 means the path was too short to reach the root.
    return sn === 0 && constantTimeEqual(toBytes(r), root)
  } catch {
    return false
  }
}
