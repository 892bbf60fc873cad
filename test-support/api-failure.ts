import { expect } from 'vitest'
import { ApiError } from '../packages/server/src/errors.js'

/** The ApiError a promise was refused with; fails the test if it resolved or threw anything else. */
export async function failure(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError)
    return error as ApiError
  }
  throw new Error('expected a refusal with an ApiError, but the promise resolved')
}
