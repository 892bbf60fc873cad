import { describe, expect, it } from 'vitest'
import * as errors from './errors.js'

const construct: Record<keyof typeof errors.errorRegistry, () => errors.ApiError> = {
  InvalidRequestError: () => new errors.InvalidRequestError('bad', { param: 'temperature' }),
  InvalidImageError: () => new errors.InvalidImageError('Invalid image data in messages[0].content[1]: truncated JPEG'),
  ContextLengthExceededError: () => new errors.ContextLengthExceededError('too long'),
  AuthenticationError: () => new errors.AuthenticationError(),
  NotFoundError: () => new errors.NotFoundError('no such model'),
  PayloadTooLargeError: () => new errors.PayloadTooLargeError('too big'),
  InternalServerError: () => new errors.InternalServerError(),
  UpstreamError: () => new errors.UpstreamError('upstream broke'),
  OverloadedError: () => new errors.OverloadedError('busy', 2.2),
  EngineUnavailableError: () => new errors.EngineUnavailableError('down'),
  BatchesUnavailableError: () => new errors.BatchesUnavailableError(),
}

describe('error registry', () => {
  it.each(Object.entries(errors.errorRegistry))('%s renders with status %i and the OpenAI envelope', (name, status) => {
    const error = construct[name as keyof typeof construct]()
    expect(error).toBeInstanceOf(errors.ApiError)
    expect(error.name).toBe(name)
    expect(error.status).toBe(status)
    const envelope = error.toEnvelope()
    expect(Object.keys(envelope.error).sort()).toEqual(['code', 'message', 'param', 'type'])
    expect(typeof envelope.error.message).toBe('string')
    expect(envelope.error.code === null || typeof envelope.error.code === 'string').toBe(true)
  })

  it('covers every exported ApiError subclass', () => {
    const subclasses = Object.entries(errors)
      .filter(([, value]) => typeof value === 'function' && value.prototype instanceof errors.ApiError)
      .map(([name]) => name)
      .sort()
    expect(subclasses).toEqual(Object.keys(errors.errorRegistry).sort())
  })

  it('sets Retry-After on 503s, rounded up to whole seconds', () => {
    expect(new errors.OverloadedError('busy', 2.2).headers['retry-after']).toBe('3')
    expect(new errors.EngineUnavailableError('down').headers['retry-after']).toBe('5')
  })
})
