/**
 * Raw JSON helpers for tests: verifiers and decoders receive wire data, so tests build and
 * mutate wire data, never decoded values.
 */
export type Key = string | number
export type Path = ReadonlyArray<Key>

export const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** A deep, mutable copy of a value as it would arrive over the wire. */
export const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

const child = (u: unknown, key: Key): unknown => (Array.isArray(u) ? u[key as number] : isObject(u) ? u[String(key)] : undefined)

export const at = (root: unknown, path: Path): unknown => path.reduce(child, root)

// defineProperty, not assignment: a key such as "__proto__" must become an own data property.
export const put = (container: unknown, key: Key, value: unknown): void => {
  Object.defineProperty(container, key, { value, writable: true, enumerable: true, configurable: true })
}

/** A copy of `root` with the value at `path` replaced (or added, when the key is new). */
export const setAt = (root: unknown, path: Path, value: unknown): unknown => {
  const copy = wire(root)
  if (path.length === 0) return value
  put(at(copy, path.slice(0, -1)), path[path.length - 1]!, value)
  return copy
}

/** Every path in a JSON tree, the root's (`[]`) first: the places a fuzzer may mutate. */
export const pathsOf = (value: unknown, prefix: Path = []): Array<Path> => {
  const out: Array<Path> = [prefix]
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])))
  else if (isObject(value)) for (const k of Object.keys(value)) out.push(...pathsOf(value[k], [...prefix, k]))
  return out
}

/** The `n`th item, wrapping around: lets a fuzzer's number choose among whatever exists. */
export const pick = <A>(items: ReadonlyArray<A>, n: number): A | undefined => (items.length === 0 ? undefined : items[n % items.length])

/**
 * Forged wire JSON, poked at field by field. Deliberately untyped: the point of these tests is
 * to build what the protocol's types forbid.
 */
export type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any
