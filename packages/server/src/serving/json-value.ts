/** Checks on parsed JSON request bodies, and how error messages name what was sent instead. */

export type JsonObject = Record<string, unknown>

/** A JSON object: not null, not an array. */
export const isJsonObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value)

/** What a value is, for "got …" in an error message: "null", "an array", "a number", "an object". */
export function describeJsonType(value: unknown): string {
  if (value === null || value === undefined) return String(value)
  if (Array.isArray(value)) return 'an array'
  return withArticle(typeof value)
}

/** "an assistant", "a user": a noun with its indefinite article. */
export const withArticle = (noun: string): string => (/^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`)
