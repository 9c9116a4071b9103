import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fc from "fast-check"
import {
  canonicalBytes,
  CanonicalizationError,
  canonicalize,
  canonicalizeOrThrow,
  MAX_DEPTH
} from "../../src/protocol/Canonical.js"

const ok = (value: unknown): string => {
  const result = canonicalize(value)
  if (Either.isLeft(result)) throw new Error(`expected success, got: ${result.left.message}`)
  return result.right
}

const fail = (value: unknown): CanonicalizationError => {
  const result = canonicalize(value)
  if (Either.isRight(result)) throw new Error(`expected failure, got: ${result.right}`)
  return result.left
}

const doubleFromHex = (hex: string): number => {
  const view = new DataView(new ArrayBuffer(8))
  view.setBigUint64(0, BigInt(`0x${hex}`))
  return view.getFloat64(0)
}

// Deliberately naive and independent: explicit code-unit comparator, JSON.stringify for leaves.
const reference = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(reference).join(",")}]`
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>
    const keys = Object.keys(record).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(record[k])}`).join(",")}}`
  }
  return JSON.stringify(value)
}

// Rebuilds every object inserting its keys in a seed-determined shuffled order.
const reorder = (value: unknown, seed: number): unknown => {
  if (Array.isArray(value)) return value.map((v, i) => reorder(v, seed + i))
  if (value === null || typeof value !== "object") return value
  const keys = Object.keys(value)
  let state = seed >>> 0
  for (let i = keys.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    const j = state % (i + 1)
    ;[keys[i], keys[j]] = [keys[j]!, keys[i]!]
  }
  const out: Record<string, unknown> = {}
  for (const k of keys) {
    // defineProperty so a generated "__proto__" key stays an own data property
    Object.defineProperty(out, k, {
      value: reorder((value as Record<string, unknown>)[k], seed ^ k.length),
      enumerable: true,
      writable: true,
      configurable: true
    })
  }
  return out
}

const positiveZero = (value: unknown): unknown => {
  if (Object.is(value, -0)) return 0
  if (Array.isArray(value)) return value.map(positiveZero)
  if (value === null || typeof value !== "object") return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    Object.defineProperty(out, k, { value: positiveZero(v), enumerable: true, writable: true, configurable: true })
  }
  return out
}

describe("RFC 8785 examples", () => {
  it("§3.2.2 sample input", () => {
    const input = JSON.parse(
      String.raw`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}`
    )
    const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
    expect(ok(input)).toBe(expected)
    expect(canonicalizeOrThrow(input)).toBe(expected)
  })

  it("§3.2.4 output is UTF-8 (€ becomes e2 82 ac)", () => {
    const bytes = canonicalBytes({ string: "€$" })
    expect(Either.getOrThrow(bytes)).toEqual(
      new Uint8Array([0x7b, 0x22, 0x73, 0x74, 0x72, 0x69, 0x6e, 0x67, 0x22, 0x3a, 0x22, 0xe2, 0x82, 0xac, 0x24, 0x22, 0x7d])
    )
  })

  it("§3.2.3 sorting example orders keys by UTF-16 code units", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }
    // Compared as text: JSON.parse would hoist the integer-like key "1" when read back.
    expect(ok(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    // U+1F600 (surrogates D83D DE00) sorts before U+FB33 by code unit, though after it by code point.
  })

  // Appendix B, every finite row.
  const appendixB: ReadonlyArray<readonly [string, string]> = [
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"]
  ]
  it.each(appendixB)("Appendix B: 0x%s → %s", (hex, expected) => {
    expect(ok(doubleFromHex(hex))).toBe(expected)
    expect(ok({ n: [doubleFromHex(hex)] })).toBe(`{"n":[${expected}]}`)
  })

  it.each([["7fffffffffffffff", "NaN"], ["7ff0000000000000", "Infinity"]])(
    "Appendix B: 0x%s (%s) is rejected",
    (hex, name) => {
      const error = fail(doubleFromHex(hex))
      expect(error.reason).toBe("NonFiniteNumber")
      expect(error.path).toBe("$")
      expect(error.message).toBe(`cannot canonicalise $: ${name} is not a JSON number`)
    }
  )
})

describe("string escaping", () => {
  const short: Record<number, string> = { 0x08: "\\b", 0x09: "\\t", 0x0a: "\\n", 0x0c: "\\f", 0x0d: "\\r" }
  const controls = Array.from({ length: 0x20 }, (_, cp) => cp)

  it.each(controls)("control U+%i", (cp) => {
    const escape = short[cp] ?? `\\u00${cp.toString(16).padStart(2, "0")}`
    expect(ok(String.fromCharCode(cp))).toBe(`"${escape}"`)
    expect(ok(`a${String.fromCharCode(cp)}b`)).toBe(`"a${escape}b"`)
  })

  it("uses lowercase hex for \\u escapes", () => {
    expect(ok("\u001f\u000b\u001a")).toBe('"\\u001f\\u000b\\u001a"')
  })

  it("escapes quote and backslash only with short forms", () => {
    expect(ok('"')).toBe('"\\""')
    expect(ok("\\")).toBe('"\\\\"')
    expect(ok('say "hi" \\o/')).toBe('"say \\"hi\\" \\\\o/"')
  })

  it("emits U+007F, U+2028, U+2029, '/', non-ASCII and astral characters literally", () => {
    expect(ok("\u007f")).toBe('"\u007f"')
    expect(ok("\u2028\u2029")).toBe('"\u2028\u2029"')
    expect(ok("a/b")).toBe('"a/b"')
    expect(ok("é€\ud83d\ude00")).toBe('"é€\ud83d\ude00"')
    expect(ok("\ud83d\ude00\n")).toBe('"\ud83d\ude00\\n"')
  })

  it("escapes object keys the same way", () => {
    expect(ok({ 'a"b\n': 1, "\u0000": 2 })).toBe('{"\\u0000":2,"a\\"b\\n":1}')
  })
})

describe("accepted values", () => {
  it("scalars", () => {
    expect(ok(null)).toBe("null")
    expect(ok(true)).toBe("true")
    expect(ok(false)).toBe("false")
    expect(ok(-0)).toBe("0")
    expect(ok(-1.5)).toBe("-1.5")
    expect(ok("")).toBe('""')
  })

  it("empty and nested containers", () => {
    expect(ok([])).toBe("[]")
    expect(ok({})).toBe("{}")
    expect(ok({ b: [{}, []], a: { d: null, c: [1, "x"] } })).toBe('{"a":{"c":[1,"x"],"d":null},"b":[{},[]]}')
  })

  it("sorts integer-like keys as strings, not numerically", () => {
    expect(ok({ 10: "ten", 9: "nine", 1: "one", b: 0, A: 0 })).toBe('{"1":"one","10":"ten","9":"nine","A":0,"b":0}')
  })

  it("omits object properties whose value is undefined", () => {
    expect(ok({ a: 1, b: undefined, c: [] })).toBe('{"a":1,"c":[]}')
    expect(ok({ only: undefined })).toBe("{}")
  })

  it("accepts null-prototype objects", () => {
    const bare = Object.create(null) as Record<string, unknown>
    bare["z"] = 1
    bare["a"] = 2
    expect(ok(bare)).toBe('{"a":2,"z":1}')
  })

  it("accepts the same object referenced twice (not a cycle)", () => {
    const shared = { z: 1 }
    expect(ok({ a: shared, b: [shared, shared] })).toBe('{"a":{"z":1},"b":[{"z":1},{"z":1}]}')
  })

  it("ignores symbol-keyed and non-enumerable properties, like JSON.stringify", () => {
    const value: Record<string | symbol, unknown> = { a: 1, [Symbol("s")]: 2 }
    Object.defineProperty(value, "hidden", { value: 3, enumerable: false })
    expect(ok(value)).toBe('{"a":1}')
  })

  it("canonicalBytes is the UTF-8 encoding of canonicalize", () => {
    const value = { "\u00f6": ["\ud83d\ude00", 1e21] }
    const text = '{"\u00f6":["\ud83d\ude00",1e+21]}'
    expect(ok(value)).toBe(text)
    expect(Either.getOrThrow(canonicalBytes(value))).toEqual(new TextEncoder().encode(text))
  })
})

describe("rejections", () => {
  const expectFailure = (
    value: unknown,
    reason: CanonicalizationError["reason"],
    path: string,
    problem: string | RegExp
  ): void => {
    const error = fail(value)
    expect(error).toBeInstanceOf(CanonicalizationError)
    expect(error._tag).toBe("CanonicalizationError")
    expect(error.reason).toBe(reason)
    expect(error.path).toBe(path)
    expect(error.message.startsWith(`cannot canonicalise ${path}: `)).toBe(true)
    if (typeof problem === "string") expect(error.message).toBe(`cannot canonicalise ${path}: ${problem}`)
    else expect(error.message).toMatch(problem)
  }

  it("NaN", () => {
    expectFailure({ a: [1, 2, NaN] }, "NonFiniteNumber", "$.a[2]", "NaN is not a JSON number")
  })

  it("Infinity", () => {
    expectFailure({ x: { y: Infinity } }, "NonFiniteNumber", "$.x.y", "Infinity is not a JSON number")
  })

  it("-Infinity", () => {
    expectFailure([0, -Infinity], "NonFiniteNumber", "$[1]", "-Infinity is not a JSON number")
  })

  it("lone high surrogate", () => {
    expectFailure(
      { s: "ab\ud800c" },
      "LoneSurrogate",
      "$.s",
      "string contains a lone surrogate U+D800 at index 2"
    )
  })

  it("lone low surrogate", () => {
    expectFailure(["ok", "\udc00"], "LoneSurrogate", "$[1]", "string contains a lone surrogate U+DC00 at index 0")
  })

  it("surrogate pair in the wrong order", () => {
    expectFailure(
      { s: "\ude00\ud83d" },
      "LoneSurrogate",
      "$.s",
      "string contains a lone surrogate U+DE00 at index 0"
    )
  })

  it("lone surrogate in an object key", () => {
    expectFailure(
      { outer: { "bad\ud800key": 1 } },
      "LoneSurrogate",
      '$.outer["bad\\ud800key"]',
      "object key contains a lone surrogate U+D800 at index 3"
    )
  })

  it("bigint", () => {
    expectFailure({ n: 1n }, "UnsupportedType", "$.n", /bigint is not JSON data/)
  })

  it("function", () => {
    expectFailure({ events: [{ f: () => 1 }] }, "UnsupportedType", "$.events[0].f", /function is not JSON data/)
  })

  it("symbol", () => {
    expectFailure([Symbol("s")], "UnsupportedType", "$[0]", /symbol is not JSON data/)
  })

  it("undefined in an array", () => {
    expectFailure({ list: [1, undefined] }, "UnsupportedType", "$.list[1]", /undefined is not JSON data/)
  })

  it("array hole", () => {
    expectFailure(new Array<unknown>(2), "UnsupportedType", "$[0]", /undefined is not JSON data/)
  })

  it("undefined at the top level", () => {
    expectFailure(undefined, "UnsupportedType", "$", /undefined is not JSON data/)
  })

  it("Date", () => {
    expectFailure({ at: new Date(0) }, "UnsupportedType", "$.at", /Date object is not JSON data/)
  })

  it("Map", () => {
    expectFailure(new Map([["a", 1]]), "UnsupportedType", "$", /Map object is not JSON data/)
  })

  it("class instance, reported at its path with a non-identifier key", () => {
    class Host {
      readonly name = "h"
    }
    const events = [{}, {}, {}, { "the host": new Host() }]
    expectFailure({ events }, "UnsupportedType", '$.events[3]["the host"]', /Host object is not JSON data/)
  })

  it("object with toJSON is not called", () => {
    class Stamp {
      toJSON() {
        return "2020-01-01"
      }
    }
    expectFailure([new Stamp()], "UnsupportedType", "$[0]", /Stamp object is not JSON data/)
    // A plain object stays plain; its toJSON is just a function-valued property.
    expectFailure({ toJSON: () => "x" }, "UnsupportedType", "$.toJSON", /function is not JSON data/)
  })

  it("cycle", () => {
    const root: { list: Array<unknown> } = { list: [] }
    root.list.push({ back: root })
    expectFailure(root, "Cycle", "$.list[0].back", "circular reference (value contains itself)")
  })

  it("self-containing array", () => {
    const list: Array<unknown> = [1]
    list.push(list)
    expectFailure({ "x-y": list }, "Cycle", '$["x-y"][1]', "circular reference (value contains itself)")
  })

  it("reports the first failure in canonical key order", () => {
    expectFailure({ z: NaN, a: 1n }, "UnsupportedType", "$.a", /bigint/)
  })

  it("canonicalizeOrThrow throws the CanonicalizationError", () => {
    expect(() => canonicalizeOrThrow({ a: NaN })).toThrow(CanonicalizationError)
    expect(() => canonicalizeOrThrow({ a: NaN })).toThrow("cannot canonicalise $.a: NaN is not a JSON number")
  })

  it("canonicalBytes fails with the same error", () => {
    const result = canonicalBytes([new Map()])
    expect(Either.isLeft(result) && result.left.path).toBe("$[0]")
  })
})

describe("properties", () => {
  const numRuns = 200
  const json = fc.oneof(fc.jsonValue(), fc.jsonValue({ stringUnit: "binary" }))

  // Objects only, with keys that stress ordering: integer-like, prefixes, non-ASCII, astral.
  const key = fc.oneof(
    fc.string({ maxLength: 4 }),
    fc.nat({ max: 20 }).map(String),
    fc.string({ unit: "binary", maxLength: 3 }),
    fc.constantFrom("a", "aa", "A", "\u00f6", "\u20ac", "\ufb33", "\ud83d\ude00", "\r")
  )
  const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
    tree: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.oneof(fc.constant(null), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string()),
      fc.dictionary(key, tie("tree"), { maxKeys: 6 }),
      fc.array(tie("tree"), { maxLength: 4 })
    )
  }))
  const values = fc.oneof(json, tree)

  it("is idempotent", () => {
    fc.assert(
      fc.property(values, (v) => {
        const c = ok(v)
        expect(ok(JSON.parse(c))).toBe(c)
      }),
      { numRuns }
    )
  })

  it("does not depend on key insertion order", () => {
    fc.assert(
      fc.property(values, fc.integer(), (v, seed) => {
        expect(ok(reorder(v, seed))).toBe(ok(v))
      }),
      { numRuns }
    )
  })

  it("gives equal output for equal values", () => {
    fc.assert(
      fc.property(values, (v) => {
        expect(ok(structuredClone(v))).toBe(ok(v))
      }),
      { numRuns }
    )
  })

  it("parses back to the input (modulo -0)", () => {
    fc.assert(
      fc.property(values, (v) => {
        expect(JSON.parse(ok(v))).toEqual(positiveZero(v))
      }),
      { numRuns }
    )
  })

  it("agrees with a naive reference implementation", () => {
    fc.assert(
      fc.property(values, (v) => {
        expect(ok(v)).toBe(reference(v))
      }),
      { numRuns }
    )
  })

  it("serialises every finite double as Number::toString and round-trips it", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        const c = ok(n)
        expect(c).toBe(Object.is(n, -0) ? "0" : String(n))
        expect(JSON.parse(c)).toBe(n === 0 ? 0 : n)
      }),
      { numRuns }
    )
  })

  it("rejects any string containing a lone surrogate", () => {
    const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u))
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), lone, fc.string({ unit: "binary" }), (a, s, b) => {
        // Pad with ASCII so the half cannot pair with a neighbouring generated surrogate.
        const text = `${a}x${s}x${b}`
        const error = fail({ k: [text] })
        expect(error.reason).toBe("LoneSurrogate")
        expect(error.path).toBe("$.k[0]")
        expect(error.message).toContain(`U+${s.charCodeAt(0).toString(16).toUpperCase()} at index ${a.length + 1}`)
      }),
      { numRuns }
    )
  })
})

describe("nesting bound", () => {
  const nested = (depth: number): unknown => {
    let value: unknown = []
    for (let i = 1; i < depth; i++) value = [value]
    return value
  }

  it("canonicalises values nested exactly MAX_DEPTH levels deep", () => {
    expect(canonicalize(nested(MAX_DEPTH))).toEqual(Either.right("[".repeat(MAX_DEPTH) + "]".repeat(MAX_DEPTH)))
  })

  it("refuses one level more with TooDeep at the innermost reachable path, without a stack overflow", () => {
    const result = canonicalize({ a: nested(MAX_DEPTH) })
    expect(Either.isLeft(result) && result.left.reason).toBe("TooDeep")
    expect(Either.isLeft(result) && result.left.path).toBe("$.a" + "[0]".repeat(MAX_DEPTH - 1))
  })

  it("refuses a 100,000-level array with TooDeep rather than a RangeError", () => {
    const result = canonicalize(nested(100_000))
    expect(Either.isLeft(result) && result.left.reason).toBe("TooDeep")
  })
})
