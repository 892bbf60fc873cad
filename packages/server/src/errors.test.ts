import { describe, expect, it } from 'vitest'
import * as errors from './errors.js'

const construct: Record<keyof typeof errors.errorRegistry, () => errors.ApiError> = {
  InvalidRequestError: () => new errors.InvalidRequestError('bad', { param: 'temperature' }),
  InvalidImageError: () => new errors.InvalidImageError('Invalid image data in messages[0].content[1]: truncated JPEG'),
  InvalidFileError: () => new errors.InvalidFileError('Invalid file data in messages[0].content[1]: the PDF is password-protected'),
  InvalidVideoError: () => new errors.InvalidVideoError('Invalid video data in messages[0].content[1]: truncated MP4'),
  ContextLengthExceededError: () => new errors.ContextLengthExceededError('too long'),
  AuthenticationError: () => new errors.AuthenticationError(),
  PermissionDeniedError: () => new errors.PermissionDeniedError('not from that origin'),
  NotFoundError: () => new errors.NotFoundError('no such model'),
  RequestTimeoutError: () => new errors.RequestTimeoutError('too slow'),
  PayloadTooLargeError: () => new errors.PayloadTooLargeError('too big'),
  ClientClosedRequestError: () => new errors.ClientClosedRequestError(),
  InternalServerError: () => new errors.InternalServerError(),
  UpstreamError: () => new errors.UpstreamError('upstream broke'),
  OverloadedError: () => new errors.OverloadedError('busy', 2.2),
  EngineUnavailableError: () => new errors.EngineUnavailableError('down'),
  BatchesUnavailableError: () => new errors.BatchesUnavailableError(),
  ResponsesUnavailableError: () => new errors.ResponsesUnavailableError('store'),
  InsufficientStorageError: () => new errors.InsufficientStorageError('disk full'),
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

  it('drops URL credentials from messages, so neither responses nor logs carry them', () => {
    const error = new errors.EngineUnavailableError('The upstream engine at http://user:s3cret@gpu-box:8000/v1 is unreachable.')
    expect(error.message).toBe('The upstream engine at http://gpu-box:8000/v1 is unreachable.')
    expect(JSON.stringify(error.toEnvelope())).not.toContain('s3cret')
  })

  it('sets Retry-After on 503s, rounded up to whole seconds', () => {
    expect(new errors.OverloadedError('busy', 2.2).headers['retry-after']).toBe('3')
    expect(new errors.EngineUnavailableError('down').headers['retry-after']).toBe('5')
  })
})

describe('asApiError', () => {
  it('keeps an ApiError as it is', () => {
    const error = new errors.OverloadedError('busy', 3)
    expect(errors.asApiError(error)).toBe(error)
  })

  it('turns anything else into a generic 500 that keeps the cause for the log', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'x')")
    const mapped = errors.asApiError(bug)
    expect(mapped).toBeInstanceOf(errors.InternalServerError)
    expect(mapped.toBody()).toEqual({ message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: 'internal_error' })
    expect(mapped.cause).toBe(bug)
  })
})
