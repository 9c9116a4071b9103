/**
 * Compiles a Schema's type AST into a plain predicate for hot paths (10,000 chain entries),
 * where Schema's general decoder costs several microseconds an object. It understands only
 * the AST nodes protocol schemas use and refuses to compile anything else; a failure is
 * re-decoded by Schema itself for the error report.
 */
import { Option, Schema, SchemaAST } from "effect"

type Check = (input: unknown) => boolean

const hasOwn = Object.prototype.hasOwnProperty
const parseOptions: SchemaAST.ParseOptions = {}

const compile = (ast: SchemaAST.AST): Check => {
  switch (ast._tag) {
    case "Literal": {
      const literal = ast.literal
      return (u) => u === literal
    }
    case "StringKeyword":
      return (u) => typeof u === "string"
    case "NumberKeyword":
      return (u) => typeof u === "number"
    case "BooleanKeyword":
      return (u) => typeof u === "boolean"
    case "UndefinedKeyword":
      return (u) => u === undefined
    case "UnknownKeyword":
      return () => true
    case "Refinement": {
      const from = compile(ast.from)
      const filter = ast.filter
      return (u) => from(u) && Option.isNone(filter(u, parseOptions, ast))
    }
    case "Union": {
      const tagged = discriminated(ast.types)
      if (tagged !== undefined) return tagged
      const members = ast.types.map(compile)
      return (u) => members.some((m) => m(u))
    }
    case "TupleType": {
      if (ast.elements.some((e) => e.isOptional) || ast.rest.length > 1) throw new Error("unsupported tuple shape")
      const elements = ast.elements.map((e) => compile(e.type))
      const rest = ast.rest[0] === undefined ? undefined : compile(ast.rest[0].type)
      return (u) => {
        if (!Array.isArray(u) || u.length < elements.length || (rest === undefined && u.length !== elements.length)) return false
        for (let i = 0; i < u.length; i++) if (!(i < elements.length ? elements[i]! : rest!)(u[i])) return false
        return true
      }
    }
    case "TypeLiteral": {
      const properties = ast.propertySignatures.map((p) => {
        if (typeof p.name !== "string") throw new Error("unsupported property key")
        return { name: p.name, optional: p.isOptional, check: compile(p.type) }
      })
      const indexes = ast.indexSignatures.map((s) => ({ key: compile(s.parameter), value: compile(s.type) }))
      return (u) => {
        if (typeof u !== "object" || u === null || Array.isArray(u)) return false
        const o = u as Record<string, unknown>
        for (const p of properties) {
          if (!hasOwn.call(o, p.name)) {
            if (p.optional) continue
            return false
          }
          if (!p.check(o[p.name])) return false
        }
        // As in Schema: a key its index signature's key schema rejects is an excess property,
        // ignored; only the values of matching keys are checked.
        if (indexes.length > 0) {
          for (const key of Object.keys(o)) {
            for (const index of indexes) if (index.key(key) && !index.value(o[key])) return false
          }
        }
        return true
      }
    }
    default:
      throw new Error(`unsupported schema node ${ast._tag}`)
  }
}

/** The name of a property every member requires as a distinct string literal, if any. */
const discriminant = (members: ReadonlyArray<SchemaAST.AST>): string | undefined => {
  const first = members[0]
  if (first === undefined || first._tag !== "TypeLiteral") return undefined
  return first.propertySignatures
    .filter((p) => typeof p.name === "string" && !p.isOptional)
    .map((p) => p.name as string)
    .find((name) => {
      const seen = new Set<unknown>()
      return members.every((m) => {
        if (m._tag !== "TypeLiteral") return false
        const p = m.propertySignatures.find((q) => q.name === name)
        if (p === undefined || p.isOptional || p.type._tag !== "Literal" || typeof p.type.literal !== "string") return false
        if (seen.has(p.type.literal)) return false
        seen.add(p.type.literal)
        return true
      })
    })
}

/** A tagged union checks only the member its tag names, as Schema's own decoder does. */
const discriminated = (members: ReadonlyArray<SchemaAST.AST>): Check | undefined => {
  const name = discriminant(members)
  if (name === undefined) return undefined
  const byTag = new Map<unknown, Check>()
  for (const m of members as ReadonlyArray<SchemaAST.TypeLiteral>) {
    const tag = m.propertySignatures.find((p) => p.name === name)!.type as SchemaAST.Literal
    byTag.set(tag.literal, compile(m))
  }
  return (u) => {
    if (typeof u !== "object" || u === null) return false
    const check = byTag.get((u as Record<string, unknown>)[name])
    return check !== undefined && check(u)
  }
}

/**
 * A fast predicate equivalent to `Schema.is(schema)`: both judge the schema's type side.
 * Falls back to `Schema.is` when the schema uses nodes this compiler does not handle.
 */
export const fastValidator = <A, I>(schema: Schema.Schema<A, I, never>): (input: unknown) => input is A => {
  try {
    return compile(SchemaAST.typeAST(schema.ast)) as (input: unknown) => input is A
  } catch {
    return Schema.is(schema)
  }
}
