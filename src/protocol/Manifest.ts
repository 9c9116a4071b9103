/**
 * `warrant.manifest.v1`: what a workspace capture shipped and what it refused to ship.
 * Denied paths are listed with the pattern that denied them, so absence is provable.
 */
import { Schema } from "effect"
import { versionedDecoder, versionField } from "./Decode.js"
import { Sha256 } from "./Hash.js"
import { NonNegativeInt } from "./Ids.js"
import { WorkspacePath } from "./WorkspacePath.js"

/** A content-addressed blob the plane stores and a runner fetches by hash. */
export const BlobRef = Schema.Struct({
  hash: Sha256,
  size: NonNegativeInt
})
export type BlobRef = typeof BlobRef.Type

export const ManifestFile = Schema.Struct({
  path: WorkspacePath,
  hash: Sha256,
  size: NonNegativeInt,
  executable: Schema.optional(Schema.Boolean),
  /**
   * The file's content ships as its own blob (named by `hash`): an allowlisted untracked file,
   * or every file of a directory capture. Otherwise it comes from the bundle and the dirty diff.
   */
  untracked: Schema.optional(Schema.Boolean),
  /** The entry is a symlink; its content (and hash) is the link's target, as git stores it. */
  symlink: Schema.optional(Schema.Boolean)
})
export type ManifestFile = typeof ManifestFile.Type

export const DeniedPath = Schema.Struct({
  path: WorkspacePath,
  pattern: Schema.String
})
export type DeniedPath = typeof DeniedPath.Type

export const Manifest = Schema.Struct({
  version: versionField("manifest"),
  source: Schema.Literal("git", "directory"),
  /** The base commit for a git capture; absent for a plain directory. */
  baseRef: Schema.optional(Schema.String.pipe(Schema.pattern(/^[0-9a-f]{40}([0-9a-f]{24})?$/, { message: () => "expected a full git object id" }))),
  bundle: Schema.optional(BlobRef),
  dirtyDiff: Schema.optional(BlobRef),
  files: Schema.Array(ManifestFile),
  denied: Schema.Array(DeniedPath),
  deniedPatterns: Schema.Array(Schema.String)
})
export type Manifest = typeof Manifest.Type

export const decodeManifest = versionedDecoder("manifest", Manifest)
