import { InvalidRequestError } from './errors.js'

/** A `limit` query parameter: a whole number from 1 to `max`, or `fallback` when absent. */
export function parseLimit(raw: unknown, fallback: number, max: number): number {
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidRequestError(`limit must be a whole number from 1 to ${max}, got ${JSON.stringify(raw)}`, { param: 'limit', code: 'invalid_value' })
  }
  return value
}

/** OpenAI's list object, paged with `after` (the last id seen) and `has_more`. */
export function page<T extends { id: string }>(data: T[], hasMore: boolean) {
  return { object: 'list' as const, data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore }
}
