import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import {
  constantTimeEqual,
  emptyRoot,
  inclusionProof,
  leafHash,
  nodeHash,
  rootHash,
  verifyInclusion
} from "../../src/chain/Merkle.js"

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"))

// --- A literal transcription of RFC 9162 §2.1.1 / §2.1.3.1, independent of the module ---

const sha256 = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const h = createHash("sha256")
  for (const part of parts) h.update(part)
  return new Uint8Array(h.digest())
}

/** The largest power of two smaller than n (n > 1). */
const splitPoint = (n: number): number => {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

const mth = (d: ReadonlyArray<Uint8Array>): Uint8Array => {
  const n = d.length
  if (n === 0) return sha256()
  if (n === 1) return sha256(Uint8Array.of(0x00), d[0]!)
  const k = splitPoint(n)
  return sha256(Uint8Array.of(0x01), mth(d.slice(0, k)), mth(d.slice(k)))
}

const path = (m: number, d: ReadonlyArray<Uint8Array>): ReadonlyArray<Uint8Array> => {
  const n = d.length
  if (n === 1) return []
  const k = splitPoint(n)
  return m < k
    ? [...path(m, d.slice(0, k)), mth(d.slice(k))]
    : [...path(m - k, d.slice(k)), mth(d.slice(0, k))]
}

/**
 * The same PATH recursion over index ranges of one leaf array, memoising
 * MTH of each range: the 1..64 sweep asks for the same subtrees thousands of times.
 */
const pathMemo = (d: ReadonlyArray<Uint8Array>) => {
  const memo = new Map<string, Uint8Array>()
  const mthRange = (lo: number, hi: number): Uint8Array => {
    const key = `${lo}:${hi}`
    let h = memo.get(key)
    if (h === undefined) {
      h = mth(d.slice(lo, hi))
      memo.set(key, h)
    }
    return h
  }
  const go = (m: number, lo: number, hi: number): ReadonlyArray<Uint8Array> => {
    const n = hi - lo
    if (n === 1) return []
    const k = splitPoint(n)
    return m < k
      ? [...go(m, lo, lo + k), mthRange(lo + k, hi)]
      : [...go(m - k, lo + k, hi), mthRange(lo, lo + k)]
  }
  return (m: number) => go(m, 0, d.length)
}

// --- Fixtures ---

/** The reference tree of google/certificate-transparency merkle_tree_test.cc. */
const referenceLeaves = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f"
].map(unhex)

const referenceRoots = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
]

/** Audit paths from the same test file (0-based leaf index, tree size, path). */
const referencePaths: ReadonlyArray<readonly [number, number, ReadonlyArray<string>]> = [
  [0, 1, []],
  [0, 8, [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
  ]],
  [5, 8, [
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
  ]],
  [2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]],
  [1, 5, [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
  ]]
]

/** Distinct leaves of lengths 1..4, so no two subtrees hash alike by accident. */
const makeLeaves = (n: number): ReadonlyArray<Uint8Array> =>
  Array.from({ length: n }, (_, i) => Uint8Array.from({ length: 1 + (i % 4) }, (_, j) => (i * 31 + j * 7) & 0xff))

const flipped = (bytes: Uint8Array, at: number): Uint8Array => {
  const copy = Uint8Array.from(bytes)
  copy[at] = copy[at]! ^ 0xff
  return copy
}

const MAX_SIZE = 64
const sizes = Array.from({ length: MAX_SIZE }, (_, i) => i + 1)
interface Tree {
  readonly leaves: ReadonlyArray<Uint8Array>
  readonly root: Uint8Array
  readonly proofs: ReadonlyArray<ReadonlyArray<Uint8Array>>
}
// Generated once: each inclusionProof call hashes the whole tree.
const trees = new Map<number, Tree>()
for (const n of [...sizes, MAX_SIZE + 1]) {
  const leaves = makeLeaves(n)
  trees.set(n, { leaves, root: rootHash(leaves), proofs: leaves.map((_, i) => inclusionProof(leaves, i)) })
}
const tree = (n: number) => trees.get(n)!

describe("Merkle known answers", () => {
  it("empty tree root is SHA-256 of the empty string", () => {
    expect(hex(emptyRoot)).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    expect(hex(rootHash([]))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  })

  it("leafHash and nodeHash apply the RFC domain-separation prefixes", () => {
    expect(hex(leafHash(new Uint8Array(0)))).toBe(
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    expect(hex(leafHash(Uint8Array.of(0x00)))).toBe(
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
    )
    const l = leafHash(referenceLeaves[0]!)
    const r = leafHash(referenceLeaves[1]!)
    expect(hex(nodeHash(l, r))).toBe(referenceRoots[1])
    expect(hex(nodeHash(l, r))).toBe(hex(sha256(Uint8Array.of(0x01), l, r)))
  })

  it.each(referenceRoots.map((root, i) => [i + 1, root] as const))(
    "root of the first %i reference leaves",
    (n, root) => {
      expect(hex(rootHash(referenceLeaves.slice(0, n)))).toBe(root)
      expect(hex(mth(referenceLeaves.slice(0, n)))).toBe(root)
    }
  )

  it.each(referencePaths)("reference audit path for leaf %i of tree size %i", (index, size, expected) => {
    const leaves = referenceLeaves.slice(0, size)
    const proof = inclusionProof(leaves, index)
    expect(proof.map(hex)).toEqual(expected)
    expect(
      verifyInclusion({ leaf: leaves[index]!, leafIndex: index, treeSize: size, proof, root: rootHash(leaves) })
    ).toBe(true)
  })
})

describe("inclusion proofs for every tree size 1..64 and every index", () => {
  it("match the RFC PATH definition and verify against rootHash", () => {
    let checked = 0
    for (const n of sizes) {
      const { leaves, root, proofs } = tree(n)
      expect(hex(root)).toBe(hex(mth(leaves)))
      const rfcPath = pathMemo(leaves)
      const depth = Math.ceil(Math.log2(n))
      for (let i = 0; i < n; i++) {
        const proof = proofs[i]!
        const expected = rfcPath(i)
        expect(proof.length).toBe(expected.length)
        expect(proof.map(hex)).toEqual(expected.map(hex))
        // A perfect tree puts every leaf at full depth; otherwise no leaf is deeper.
        if (Number.isInteger(Math.log2(n))) expect(proof.length).toBe(depth)
        else expect(proof.length).toBeLessThanOrEqual(depth)
        expect(verifyInclusion({ leaf: leaves[i]!, leafIndex: i, treeSize: n, proof, root })).toBe(true)
        checked++
      }
    }
    expect(checked).toBe((MAX_SIZE * (MAX_SIZE + 1)) / 2)
  })

  // These sweeps run ~10^5 verifications, so they collect the accepted cases
  // and assert once rather than calling expect() each time.
  //
  // Every byte of every proof element and of the root for sizes up to 16; beyond that the first,
  // the last and one rotating byte, which keeps the sweep to a couple of seconds
  // on a slow machine (all 32 bytes for all 64 sizes took ~15 s).
  const flipPositions = (n: number, i: number, e: number): ReadonlyArray<number> =>
    n <= 16 ? Array.from({ length: 32 }, (_, b) => b) : [0, 31, (i + e) % 30 + 1]
  it("fail when any byte of any proof element, of the leaf or of the root is flipped", () => {
    const accepted: Array<string> = []
    for (const n of sizes) {
      const { leaves, root, proofs } = tree(n)
      for (let i = 0; i < n; i++) {
        const leaf = leaves[i]!
        const proof = proofs[i]!
        const base = { leaf, leafIndex: i, treeSize: n, proof, root }
        for (let e = 0; e < proof.length; e++) {
          for (const b of flipPositions(n, i, e)) {
            const bad = proof.map((p, k) => (k === e ? flipped(p, b) : p))
            if (verifyInclusion({ ...base, proof: bad })) accepted.push(`n=${n} i=${i} proof[${e}][${b}]`)
          }
        }
        for (let b = 0; b < leaf.length; b++) {
          if (verifyInclusion({ ...base, leaf: flipped(leaf, b) })) accepted.push(`n=${n} i=${i} leaf[${b}]`)
        }
        for (const b of flipPositions(n, i, proof.length)) {
          if (verifyInclusion({ ...base, root: flipped(root, b) })) accepted.push(`n=${n} i=${i} root[${b}]`)
        }
      }
    }
    expect(accepted).toEqual([])
  })

  it("fail when an element is dropped or an extra one is added", () => {
    const extra = new Uint8Array(32).fill(0x5a)
    for (const n of sizes) {
      const { leaves, root, proofs } = tree(n)
      for (let i = 0; i < n; i++) {
        const proof = proofs[i]!
        const base = { leaf: leaves[i]!, leafIndex: i, treeSize: n, root }
        for (let e = 0; e < proof.length; e++) {
          expect(verifyInclusion({ ...base, proof: proof.filter((_, k) => k !== e) })).toBe(false)
        }
        expect(verifyInclusion({ ...base, proof: [...proof, extra] })).toBe(false)
        expect(verifyInclusion({ ...base, proof: [extra, ...proof] })).toBe(false)
        expect(verifyInclusion({ ...base, proof: [...proof, root] })).toBe(false)
      }
    }
  })

  // Every other index up to size 32 (and n..n+2); beyond that neighbours,
  // mirror images and the ends, which again bounds the run time.
  const wrongIndices = (n: number, i: number): ReadonlyArray<number> => {
    const all = n <= 32
      ? Array.from({ length: n + 3 }, (_, j) => j)
      : [0, 1, i - 1, i + 1, i ^ 1, i ^ 2, n - 1 - i, n - 2, n - 1, n, n + 1, n + 2]
    return [...new Set(all)].filter((j) => j !== i && j >= 0)
  }

  it("fail for every wrong index, including indices at or beyond the tree size", () => {
    const accepted: Array<string> = []
    for (const n of sizes) {
      const { leaves, root, proofs } = tree(n)
      for (let i = 0; i < n; i++) {
        const proof = proofs[i]!
        for (const j of wrongIndices(n, i)) {
          if (verifyInclusion({ leaf: leaves[i]!, leafIndex: j, treeSize: n, proof, root })) {
            accepted.push(`n=${n} proof of ${i} as ${j}`)
          }
        }
      }
    }
    expect(accepted).toEqual([])
  })

  it("a proof for size n does not verify against size n + 1", () => {
    for (const n of sizes) {
      const { leaves, root, proofs } = tree(n)
      const next = tree(n + 1).root
      for (let i = 0; i < n; i++) {
        const proof = proofs[i]!
        const leaf = leaves[i]!
        expect(verifyInclusion({ leaf, leafIndex: i, treeSize: n, proof, root })).toBe(true)
        expect(verifyInclusion({ leaf, leafIndex: i, treeSize: n + 1, proof, root: next })).toBe(false)
        expect(verifyInclusion({ leaf, leafIndex: i, treeSize: n, proof, root: next })).toBe(false)
      }
    }
  })

  it("does not authenticate treeSize: it must come from a signed tree head", () => {
    // RFC 9162 §2.1.3.2 only uses tree_size to shape the path. Leaf 0 of 3 has
    // the same left/right steps as leaf 0 of 4, so the size-3 proof and root
    // also pass when tree size 4 is claimed.
    const { leaves, root } = tree(3)
    const proof = inclusionProof(leaves, 0)
    expect(verifyInclusion({ leaf: leaves[0]!, leafIndex: 0, treeSize: 4, proof, root })).toBe(true)
    expect(verifyInclusion({ leaf: leaves[2]!, leafIndex: 2, treeSize: 4, proof: inclusionProof(leaves, 2), root }))
      .toBe(false)
  })

  it("malformed input returns false without throwing", () => {
    const { leaves, root } = tree(5)
    const proof = inclusionProof(leaves, 2)
    const base = { leaf: leaves[2]!, leafIndex: 2, treeSize: 5, proof, root }
    expect(verifyInclusion(base)).toBe(true)
    const cases: ReadonlyArray<Parameters<typeof verifyInclusion>[0]> = [
      { ...base, leafIndex: -1 },
      { ...base, leafIndex: 2.5 },
      { ...base, leafIndex: Number.NaN },
      { ...base, leafIndex: Number.POSITIVE_INFINITY },
      { ...base, leafIndex: 5 },
      { ...base, leafIndex: 6 },
      { ...base, treeSize: 5.5 },
      { ...base, treeSize: -5 },
      { ...base, treeSize: 0 },
      { ...base, treeSize: Number.NaN },
      { ...base, treeSize: Number.POSITIVE_INFINITY },
      { ...base, treeSize: 2 ** 60 },
      { ...base, leafIndex: 0, treeSize: 0, proof: [], root: emptyRoot },
      { ...base, proof: [proof[0]!.subarray(0, 31), ...proof.slice(1)] },
      { ...base, proof: [Uint8Array.from([...proof[0]!, 0]), ...proof.slice(1)] },
      { ...base, proof: [...proof.slice(0, -1), new Uint8Array(0)] },
      { ...base, root: root.subarray(0, 31) },
      { ...base, root: Uint8Array.from([...root, 0]) },
      { ...base, root: new Uint8Array(0) },
      { ...base, proof: [null as unknown as Uint8Array, ...proof.slice(1)] },
      { ...base, proof: undefined as unknown as ReadonlyArray<Uint8Array> },
      { ...base, leaf: "abc" as unknown as Uint8Array },
      { ...base, root: undefined as unknown as Uint8Array }
    ]
    for (const input of cases) {
      expect(() => verifyInclusion(input)).not.toThrow()
      expect(verifyInclusion(input)).toBe(false)
    }
  })

  it("handles tree sizes and indices beyond 2^32 exactly", () => {
    // Perfect tree of 2^33 leaves: each bit of the index picks a side.
    const size = 2 ** 33
    const index = 2 ** 32 + 5
    const leaf = Uint8Array.of(1, 2, 3)
    const proof = Array.from({ length: 33 }, (_, l) => sha256(Uint8Array.of(l)))
    let r = sha256(Uint8Array.of(0x00), leaf)
    for (let l = 0; l < 33; l++) {
      const p = proof[l]!
      r = (BigInt(index) >> BigInt(l)) & 1n ? sha256(Uint8Array.of(0x01), p, r) : sha256(Uint8Array.of(0x01), r, p)
    }
    expect(verifyInclusion({ leaf, leafIndex: index, treeSize: size, proof, root: r })).toBe(true)
    expect(verifyInclusion({ leaf, leafIndex: index - 2 ** 32, treeSize: size, proof, root: r })).toBe(false)
    expect(verifyInclusion({ leaf, leafIndex: index, treeSize: size + 1, proof, root: r })).toBe(false)

    // Last leaf of a tree of 2^33 + 1 leaves: its only sibling is the left perfect subtree.
    const left = sha256(Uint8Array.of(0xee))
    const root = sha256(Uint8Array.of(0x01), left, sha256(Uint8Array.of(0x00), leaf))
    expect(verifyInclusion({ leaf, leafIndex: size, treeSize: size + 1, proof: [left], root })).toBe(true)
    expect(verifyInclusion({ leaf, leafIndex: size, treeSize: size + 2, proof: [left], root })).toBe(false)
  })
})

describe("rootHash", () => {
  it("equals the recursive RFC definition for random leaf sets of size 0..300", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 300 }), (leaves) => {
        expect(hex(rootHash(leaves))).toBe(hex(mth(leaves)))
      }),
      { numRuns: 200 }
    )
  })

  it("random trees: generated proofs equal the RFC PATH and verify", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 16 }), { minLength: 1, maxLength: 300 }),
        fc.nat(),
        (leaves, seed) => {
          const index = seed % leaves.length
          const proof = inclusionProof(leaves, index)
          expect(proof.map(hex)).toEqual(path(index, leaves).map(hex))
          const root = rootHash(leaves)
          expect(verifyInclusion({ leaf: leaves[index]!, leafIndex: index, treeSize: leaves.length, proof, root }))
            .toBe(true)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("does not mutate the caller's leaves", () => {
    const leaves = makeLeaves(7)
    const before = leaves.map(hex)
    rootHash(leaves)
    inclusionProof(leaves, 6)
    expect(leaves.map(hex)).toEqual(before)
  })
})

describe("inclusionProof", () => {
  it.each([-1, 5, 6, 0.5, Number.NaN, Number.POSITIVE_INFINITY])("throws RangeError for index %s of 5 leaves", (index) => {
    expect(() => inclusionProof(makeLeaves(5), index)).toThrow(RangeError)
    expect(() => inclusionProof(makeLeaves(5), index)).toThrow(`is not an integer in [0, 5)`)
  })

  it("throws RangeError for any index into an empty tree", () => {
    expect(() => inclusionProof([], 0)).toThrow(RangeError)
  })
})

describe("returned byte values", () => {
  it("are plain Uint8Arrays, not Buffers, and rootHash([]) does not alias emptyRoot", () => {
    const leaves = makeLeaves(3)
    const values = [
      emptyRoot,
      leafHash(leaves[0]!),
      nodeHash(leaves[0]!, leaves[1]!),
      rootHash(leaves),
      rootHash([]),
      ...inclusionProof(leaves, 2)
    ]
    for (const value of values) {
      expect(Object.getPrototypeOf(value)).toBe(Uint8Array.prototype)
      expect(value).toStrictEqual(new Uint8Array(value))
    }
    expect(rootHash([])).not.toBe(emptyRoot)
  })
})

describe("constantTimeEqual", () => {
  it("compares contents and lengths", () => {
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true)
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false)
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3))).toBe(false)
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true)
  })
})
