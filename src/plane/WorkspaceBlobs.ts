/**
 * The blobs a workspace manifest makes a runner fetch: the git bundle, the dirty diff, and every
 * file shipped as its own blob. Pure.
 */
import type { Sha256 } from "../protocol/Hash.js"
import type { Manifest } from "../protocol/Manifest.js"

export const referencedBlobs = (manifest: Manifest): ReadonlyArray<{ readonly hash: Sha256; readonly size: number }> => {
  const all = [
    ...(manifest.bundle === undefined ? [] : [manifest.bundle]),
    ...(manifest.dirtyDiff === undefined ? [] : [manifest.dirtyDiff]),
    ...manifest.files.filter((f) => f.untracked === true).map((f) => ({ hash: f.hash, size: f.size }))
  ]
  // Keyed by hash and size: one hash declared with two sizes stays two entries, so the wrong one is checked too.
  const unique = new Map(all.map((b) => [`${b.hash}/${b.size}`, b] as const))
  return [...unique.values()]
}
