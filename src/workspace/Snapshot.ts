/**
 * The snapshot commit a bundle carries: one parentless commit, always under the same ref, with
 * fixed dates, so the same tree always makes the same commit (and the same bundle bytes, which
 * a content-addressed store then keeps once).
 */
export const SNAPSHOT_REF = "refs/warrant/snapshot"

/** The branch a materialised workspace has checked out. */
export const WORKSPACE_BRANCH = "warrant"

export const snapshotCommitEnv: Readonly<Record<string, string>> = {
  GIT_AUTHOR_DATE: "@0 +0000",
  GIT_COMMITTER_DATE: "@0 +0000"
}
