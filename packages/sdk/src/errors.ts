/**
 * Typed errors. The class is chosen from the HTTP status (as openai-node does), so code
 * can `catch (e) { if (e instanceof RateLimitError) … }` against any OpenAI-compatible
 * server; the server's own `message`, `param`, `code` and `x-request-id` ride along.
 */
import { isErrorEnvelope, type ErrorBody } from '@visto/protocol'

export class VistoError extends Error {
  override name = 'VistoError'
}

export interface ApiErrorInit {
  status: number | undefined
  body?: ErrorBody | undefined
  /** The raw response text when it was not an OpenAI error envelope. */
  rawBody?: string | undefined
  headers?: Headers | undefined
  /** True when the error arrived as a `data: {"error":…}` event after a 200 stream began. */
  duringStream?: boolean
}

/** The server answered with an error (HTTP status ≥ 400, or an error event mid-stream). */
export class ApiError extends VistoError {
  override name = 'ApiError'
  readonly status: number | undefined
  readonly type: string | undefined
  readonly param: string | null
  readonly code: string | null
  readonly requestId: string | undefined
  readonly headers: Headers | undefined
  readonly body: ErrorBody | undefined
  readonly duringStream: boolean

  constructor(message: string, init: ApiErrorInit) {
    super(message)
    this.status = init.status
    this.body = init.body
    this.type = init.body?.type
    this.param = init.body?.param ?? null
    this.code = init.body?.code === undefined || init.body.code === null ? null : String(init.body.code)
    this.headers = init.headers
    this.requestId = init.headers?.get('x-request-id') ?? undefined
    this.duringStream = init.duringStream ?? false
  }
}

export class BadRequestError extends ApiError {
  override name = 'BadRequestError'
}
export class AuthenticationError extends ApiError {
  override name = 'AuthenticationError'
}
export class PermissionDeniedError extends ApiError {
  override name = 'PermissionDeniedError'
}
export class NotFoundError extends ApiError {
  override name = 'NotFoundError'
}
export class ConflictError extends ApiError {
  override name = 'ConflictError'
}
export class PayloadTooLargeError extends ApiError {
  override name = 'PayloadTooLargeError'
}
export class UnprocessableEntityError extends ApiError {
  override name = 'UnprocessableEntityError'
}
export class RateLimitError extends ApiError {
  override name = 'RateLimitError'
}
/** 5xx other than 503. */
export class ServerError extends ApiError {
  override name = 'ServerError'
}
/** 503: the server is up but full or still loading; retrying later is the right move. */
export class OverloadedError extends ServerError {
  override name = 'OverloadedError'
}

/** No HTTP answer at all: refused, reset, DNS failure, a stream cut short. */
export class ConnectionError extends VistoError {
  override name = 'ConnectionError'
  /** Short machine-ish reason, e.g. `ECONNREFUSED`, `ENOTFOUND`, `timeout`. */
  readonly reason: string | undefined
  constructor(
    message: string,
    readonly url?: string,
    options?: { cause?: unknown; reason?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.reason = options?.reason
  }
}

/** The per-request timeout elapsed. */
export class TimeoutError extends ConnectionError {
  override name = 'TimeoutError'
  constructor(
    readonly timeoutMs: number,
    url?: string,
  ) {
    super(`Request timed out after ${timeoutMs} ms`, url, { reason: 'timeout' })
  }
}

/** The caller's AbortSignal fired. Never retried. */
export class AbortError extends VistoError {
  override name = 'AbortError'
  constructor(options?: { cause?: unknown }) {
    super('Request was aborted', options)
  }
}

/** The server answered 2xx with something that is not a chat completion. */
export class InvalidResponseError extends VistoError {
  override name = 'InvalidResponseError'
}

type ApiErrorClass = new (message: string, init: ApiErrorInit) => ApiError

function classForStatus(status: number | undefined): ApiErrorClass {
  switch (status) {
    case 400:
      return BadRequestError
    case 401:
      return AuthenticationError
    case 403:
      return PermissionDeniedError
    case 404:
      return NotFoundError
    case 409:
      return ConflictError
    case 413:
      return PayloadTooLargeError
    case 422:
      return UnprocessableEntityError
    case 429:
      return RateLimitError
    case 503:
      return OverloadedError
  }
  if (status !== undefined && status >= 500) return ServerError
  return ApiError
}

/** Mid-stream errors have no status of their own; infer one from the OpenAI error type. */
function statusForType(type: string | undefined): number | undefined {
  switch (type) {
    case 'invalid_request_error':
      return 400
    case 'authentication_error':
      return 401
    case 'not_found_error':
      return 404
    case 'rate_limit_error':
      return 429
    case 'service_unavailable_error':
      return 503
    case 'server_error':
      return 500
  }
  return undefined
}

/** Builds the typed error for an HTTP error response from its status, headers and body text. */
export function errorFromResponse(status: number, headers: Headers, text: string): ApiError {
  let body: ErrorBody | undefined
  try {
    const parsed: unknown = JSON.parse(text)
    if (isErrorEnvelope(parsed)) body = parsed.error
  } catch {
    // Not JSON (a proxy's HTML page, say): keep the text as the message.
  }
  const fallback = text.trim().slice(0, 500) || `HTTP ${status}`
  const message = body?.message ?? fallback
  const ErrorClass = classForStatus(status)
  return new ErrorClass(`${status} ${message}`, { status, body, rawBody: body ? undefined : text, headers })
}

/** Builds the typed error for a `data: {"error":…}` event received after the stream began. */
export function errorFromStreamEvent(body: ErrorBody, headers: Headers | undefined): ApiError {
  const inferred = statusForType(body.type)
  const ErrorClass = inferred === undefined ? ServerError : classForStatus(inferred)
  return new ErrorClass(body.message, { status: inferred, body, headers, duringStream: true })
}

/** The input is not an image the SDK recognises (or a path could not be read). */
export class InvalidImageError extends VistoError {
  override name = 'InvalidImageError'
}
