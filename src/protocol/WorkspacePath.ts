/**
 * The syntactic shape of a workspace-relative path on the wire. It rejects what can be
 * judged from the string alone (absolute, `..`, NUL, backslash); symlink escapes need the
 * filesystem and are decided where files are written.
 */
import { Schema } from "effect"

export const isWorkspaceRelative = (path: string): boolean =>
  path.length > 0 &&
  path.length <= 4096 &&
  !path.startsWith("/") &&
  !path.includes("\0") &&
  !path.includes("\\") &&
  path.split("/").every((segment, i, all) => segment !== ".." && (segment !== "" || (i === all.length - 1 && i > 0)))

export const WorkspacePath = Schema.String.pipe(
  Schema.filter(isWorkspaceRelative, {
    message: () => "expected a workspace-relative path (not absolute, no '..' segment, no NUL or backslash)"
  }),
  Schema.brand("WorkspacePath")
)
export type WorkspacePath = typeof WorkspacePath.Type
