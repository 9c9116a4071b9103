/**
 * The hermetic tier's filesystem: the workspace (just-bash's read-write filesystem rooted at
 * it, so `/` is the workspace) with `/dev/null` laid over it. just-bash only special-cases
 * `/dev/null` in its in-memory filesystem; over the workspace, `> /dev/null` would create a
 * real `dev/null` file that the run's diff then carries. Here writes to it vanish and reads
 * are empty. Nothing else is added or hidden.
 */
import { posix } from "node:path"
import type { ByteString, FsStat, IFileSystem } from "just-bash"

export const NULL_DEVICE = "/dev/null"

const deviceStat: FsStat = {
  isFile: true,
  isDirectory: false,
  isSymbolicLink: false,
  mode: 0o666,
  size: 0,
  mtime: new Date(0)
}

const notPermitted = (operation: string, path: string) =>
  Object.assign(new Error(`EPERM: operation not permitted, ${operation} '${path}'`), { code: "EPERM" })

/** `inner` with `/dev/null` answered here; `emptyBytes` is just-bash's empty byte string. */
export const withNullDevice = (inner: IFileSystem, emptyBytes: ByteString): IFileSystem => {
  const isNull = (path: string) => posix.normalize(path) === NULL_DEVICE
  const refuse = (operation: string, path: string) => Promise.reject(notPermitted(operation, path))
  const fs: IFileSystem = {
    readFile: (path, options) => (isNull(path) ? Promise.resolve("") : inner.readFile(path, options)),
    readFileBuffer: (path) => (isNull(path) ? Promise.resolve(new Uint8Array(0)) : inner.readFileBuffer(path)),
    writeFile: (path, content, options) => (isNull(path) ? Promise.resolve() : inner.writeFile(path, content, options)),
    appendFile: (path, content, options) => (isNull(path) ? Promise.resolve() : inner.appendFile(path, content, options)),
    exists: (path) => (isNull(path) ? Promise.resolve(true) : inner.exists(path)),
    stat: (path) => (isNull(path) ? Promise.resolve(deviceStat) : inner.stat(path)),
    lstat: (path) => (isNull(path) ? Promise.resolve(deviceStat) : inner.lstat(path)),
    realpath: (path) => (isNull(path) ? Promise.resolve(NULL_DEVICE) : inner.realpath(path)),
    mkdir: (path, options) => (isNull(path) ? refuse("mkdir", path) : inner.mkdir(path, options)),
    readdir: (path) => (isNull(path) ? refuse("scandir", path) : inner.readdir(path)),
    rm: (path, options) => (isNull(path) ? refuse("unlink", path) : inner.rm(path, options)),
    // Copying onto /dev/null discards; copying from it needs reading, which the caller does.
    cp: (src, dest, options) => (isNull(dest) ? Promise.resolve() : isNull(src) ? refuse("copyfile", src) : inner.cp(src, dest, options)),
    mv: (src, dest) => (isNull(src) || isNull(dest) ? refuse("rename", isNull(src) ? src : dest) : inner.mv(src, dest)),
    resolvePath: (base, path) => inner.resolvePath(base, path),
    getAllPaths: () => inner.getAllPaths(),
    chmod: (path, mode) => (isNull(path) ? refuse("chmod", path) : inner.chmod(path, mode)),
    symlink: (target, linkPath) => (isNull(linkPath) ? refuse("symlink", linkPath) : inner.symlink(target, linkPath)),
    link: (existing, linkPath) => (isNull(existing) || isNull(linkPath) ? refuse("link", linkPath) : inner.link(existing, linkPath)),
    readlink: (path) => (isNull(path) ? refuse("readlink", path) : inner.readlink(path)),
    utimes: (path, atime, mtime) => (isNull(path) ? Promise.resolve() : inner.utimes(path, atime, mtime))
  }
  const { readFileBytes, readdirWithFileTypes } = inner
  if (readFileBytes !== undefined) {
    fs.readFileBytes = (path) => (isNull(path) ? Promise.resolve(emptyBytes) : readFileBytes.call(inner, path))
  }
  if (readdirWithFileTypes !== undefined) {
    fs.readdirWithFileTypes = (path) => (isNull(path) ? refuse("scandir", path) : readdirWithFileTypes.call(inner, path))
  }
  return fs
}
