import { describe, expect, it } from 'vitest'
import { InvalidRequestError } from '../errors.js'
import { checkResponseSchema, patternProblem, patternRepetitionCost } from './json-schema-limits.js'

const limits = { maxDepth: 32, maxBytes: 64 * 1024 }

function refusal(schema: Record<string, unknown>): { message: string; param: string | null } {
  try {
    checkResponseSchema(schema, limits)
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError)
    const e = error as InvalidRequestError
    expect(e.code).toBe('unsupported_schema')
    return { message: e.message, param: e.param }
  }
  throw new Error('expected a refusal')
}

describe('response_format schemas the grammar converter cannot take', () => {
  it('accepts ordinary schemas: bounded arrays, strings with patterns, local recursive $refs', () => {
    expect(() =>
      checkResponseSchema(
        {
          type: 'object',
          properties: {
            tags: { type: 'array', items: { type: 'string', maxLength: 40, pattern: '^[a-z][a-z0-9-]{0,39}$' }, minItems: 1, maxItems: 10 },
            tree: { $ref: '#/$defs/node' },
            phone: { type: 'string', pattern: '^\\+?[0-9]{3}(?:-[0-9]{4})+$' },
          },
          $defs: { node: { type: 'object', properties: { children: { type: 'array', items: { $ref: '#/$defs/node' } } } } },
          enum: [{ $ref: 'not a schema, just data' }],
        },
        limits,
      ),
    ).not.toThrow()
  })

  it('refuses repetition counts above 1000 (minItems, maxItems, minLength, maxLength), naming the keyword', () => {
    expect(refusal({ type: 'object', properties: { list: { type: 'array', minItems: 1_000_000 } } })).toEqual({
      message: "response_format.json_schema.schema.properties.list.minItems is 1000000; the engine's grammar cannot enforce a count above 1000. Lower it or leave it out",
      param: 'response_format.json_schema.schema.properties.list.minItems',
    })
    expect(refusal({ type: 'string', maxLength: 65536 }).param).toBe('response_format.json_schema.schema.maxLength')
  })

  it('refuses a minimum above its maximum, which makes the grammar parser count down past zero', () => {
    expect(refusal({ type: 'array', items: { type: 'string' }, minItems: 10, maxItems: 3 })).toEqual({
      message: 'response_format.json_schema.schema.minItems (10) is greater than maxItems (3): no value can satisfy it',
      param: 'response_format.json_schema.schema.minItems',
    })
    expect(refusal({ type: 'string', minLength: 5, maxLength: 2 }).param).toBe('response_format.json_schema.schema.minLength')
    expect(patternProblem('^a{5,2}$')).toBe('the repetition "{5,2}" has its minimum above its maximum')
    expect(refusal({ type: 'integer', minimum: 10, exclusiveMaximum: 10 }).message).toBe(
      'response_format.json_schema.schema allows no integer: its lower bound 10 is above its upper bound 9',
    )
  })

  it('refuses counts and integer bounds the converter reads as C integers: negative, fractional, beyond 2^53', () => {
    expect(refusal({ type: 'array', minItems: -1 }).message).toBe('response_format.json_schema.schema.minItems must be a whole number of at least 0, got -1')
    expect(refusal({ type: 'string', maxLength: 2.5 }).param).toBe('response_format.json_schema.schema.maxLength')
    expect(refusal({ type: 'string', maxLength: '10' }).param).toBe('response_format.json_schema.schema.maxLength')
    expect(refusal({ type: 'integer', maximum: 1e300 }).message).toBe(
      'response_format.json_schema.schema.maximum of an integer must be a whole number within ±9007199254740991, got 1e+300',
    )
    expect(() => checkResponseSchema({ type: 'integer', minimum: -5, maximum: 9007199254740991 }, limits)).not.toThrow()
    expect(() => checkResponseSchema({ type: 'number', maximum: 1.5e300 }, limits)).not.toThrow()
  })

  it('refuses patterns known to crash the regex converter: a quantifier after nothing, deep groups, huge repetitions', () => {
    expect(refusal({ type: 'string', pattern: '^+[a-z]$' }).message).toBe(
      'response_format.json_schema.schema.pattern cannot be used as a grammar: the quantifier "+" at offset 1 follows nothing',
    )
    expect(patternProblem('^{2}times$')).toBe('the repetition "{2}" at offset 1 follows nothing')
    expect(patternProblem('(*a)')).toBe('the quantifier "*" at offset 1 follows nothing')
    expect(patternProblem('a|?b')).toBe('the quantifier "?" at offset 2 follows nothing')
    expect(patternProblem(`${'('.repeat(40)}a${')'.repeat(40)}`)).toBe('its groups nest more than 32 deep')
    expect(patternProblem('a{0,99999}')).toBe('the repetition "{0,99999}" exceeds 1000')
    expect(patternProblem('x'.repeat(5000))).toBe('it is 5000 characters long, the limit is 4096')
  })

  it('leaves valid patterns alone: escapes, classes, lazy quantifiers, literal braces', () => {
    for (const pattern of ['^\\d+\\.\\d*$', '[+*?]+', '[]a]*', 'a+?b*?', '^x{2,5}$', '\\{+', 'a{', '(?:ab)+', '^$']) {
      expect(patternProblem(pattern), pattern).toBeNull()
    }
  })

  it('accepts a long $ref chain that ends in a schema, however many $refs point into it (each link followed once)', () => {
    const defs: Record<string, unknown> = { d2000: { type: 'string' } }
    for (let i = 0; i < 2000; i++) defs[`d${i}`] = { $ref: `#/$defs/d${i + 1}` }
    const properties = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`p${i}`, { $ref: '#/$defs/d0' }]))
    expect(() => checkResponseSchema({ type: 'object', properties, $defs: defs }, { maxDepth: 32, maxBytes: 1024 * 1024 })).not.toThrow()
  })

  it('refuses remote, missing and purely circular $refs', () => {
    expect(refusal({ $ref: 'https://example.com/schema.json' }).message).toBe(
      'response_format.json_schema.schema.$ref must be a local reference such as "#/$defs/name"; got "https://example.com/schema.json"',
    )
    expect(refusal({ properties: { a: { $ref: '#/$defs/missing' } } }).message).toBe(
      'response_format.json_schema.schema.properties.a.$ref points to "#/$defs/missing", which is not in the schema',
    )
    expect(refusal({ $ref: '#/$defs/a', $defs: { a: { $ref: '#/$defs/b' }, b: { $ref: '#/$defs/a' } } }).message).toBe(
      'response_format.json_schema.schema.$ref is circular: "#/$defs/a" refers back to itself through $ref alone',
    )
  })
})

describe('patterns whose nested repetitions would freeze the engine', () => {
  it('counts nested repetition copies the way llama.cpp expands {m,n}: a repeated group that repeats multiplies', () => {
    expect(patternRepetitionCost('^(((a{0,20}){0,20}){0,20})$')).toBe(400)
    expect(patternRepetitionCost('^((a{0,100}){0,100})$')).toBe(100)
    expect(patternRepetitionCost('^a{0,1000}$')).toBe(1)
    expect(patternRepetitionCost('^(ab){0,1000}$')).toBe(2)
    expect(patternRepetitionCost('^\\d{4}-\\d{2}-\\d{2}$')).toBe(5)
    expect(patternRepetitionCost('^(\\d{1,3}\\.){3}\\d{1,3}$')).toBe(7)
    expect(patternRepetitionCost('^((a+)+)+$')).toBe(4)
    expect(patternRepetitionCost('^(x{2}|(y{0,3}){5})z$')).toBe(7)
  })

  it("refuses the issue's 31-byte pattern with a 400 naming the pattern and the limit", () => {
    expect(refusal({ type: 'string', pattern: '^(((a{0,20}){0,20}){0,20})$' })).toEqual({
      message:
        "response_format.json_schema.schema.pattern cannot be used as a grammar: its repetitions nest into 400 copies in the engine's grammar, the limit is 16 (a repeated group that itself repeats multiplies the counts; use smaller counts, fewer nested repetitions, or maxLength)",
      param: 'response_format.json_schema.schema.pattern',
    })
    expect(refusal({ type: 'object', properties: { code: { type: 'string', pattern: '^((a{0,5}){0,5}){0,5}$' } } }).param).toBe(
      'response_format.json_schema.schema.properties.code.pattern',
    )
  })

  it('passes realistic patterns and string lengths', () => {
    for (const pattern of ['^\\d{4}-\\d{2}-\\d{2}$', '^[A-Z]{2,10}$', '^\\+?[0-9]{3}(?:-[0-9]{4})+$', '^(\\d{1,3}\\.){3}\\d{1,3}$', '^[a-z][a-z0-9-]{0,39}$', '^.{0,1000}$']) {
      expect(patternProblem(pattern), pattern).toBeNull()
    }
    const strings = { type: 'string', maxLength: 200 }
    expect(() => checkResponseSchema({ type: 'object', properties: { name: strings, city: strings, note: strings }, required: ['name'] }, limits)).not.toThrow()
  })
})
