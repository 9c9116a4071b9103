/**
 * Finding a program the way a shell would, but only in absolute PATH entries: a relative entry
 * (or an empty one, meaning the current directory) would let the working directory choose
 * which binary a tier trusts.
 */
import { accessSync, constants, statSync } from "node:fs"
import { delimiter, isAbsolute, join } from "node:path"

/** The first executable regular file named `name` on `path`, as an absolute path. */
export const findOnPath = (name: string, path: string | undefined): string | undefined => {
  for (const dir of (path ?? "").split(delimiter)) {
    if (dir === "" || !isAbsolute(dir)) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}
