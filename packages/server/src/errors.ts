import type { ErrorBody, ErrorEnvelope, ErrorType } from '@visto/protocol'
import { redactUrlCredentials } from './redact.js'

export interface ApiErrorOptions {
  param?: string | null
  headers?: Record<string, string>
  cause?: unknown
}

/**
 * Every error Visto means to show a client. The HTTP error handler renders these as
 * they are; anything else becomes a generic 500 (so a built-in TypeError is a bug we
 * see in the logs, never a 400 that hides it).
 */
export class ApiError extends Error {
  readonly status: number
  readonly type: ErrorType
  readonly code: string | null
  readonly param: string | null
  readonly headers: Record<string, string>

  constructor(status: number, type: ErrorType, code: string | null, message: string, options: ApiErrorOptions = {}) {
    // Messages reach clients and logs; a URL quoted in one must not carry its credentials.
    super(redactUrlCredentials(message), options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.status = status
    this.type = type
    this.code = code
    this.param = options.param ?? null
    this.headers = options.headers ?? {}
  }

  toBody(): ErrorBody {
    return { message: this.message, type: this.type, param: this.param, code: this.code }
  }

  toEnvelope(): ErrorEnvelope {
    return { error: this.toBody() }
  }
}

/** 400: the request is malformed or names an invalid value. */
export class InvalidRequestError extends ApiError {
  constructor(message: string, options: ApiErrorOptions & { code?: string } = {}) {
    super(400, 'invalid_request_error', options.code ?? 'invalid_request', message, options)
  }
}

/** 400: an image could not be used. The message always starts with "Invalid image data". */
export class InvalidImageError extends ApiError {
  constructor(message: string, options: ApiErrorOptions & { code?: string } = {}) {
    super(400, 'invalid_request_error', options.code ?? 'invalid_image', message, options)
  }
}

/** 400: a file part (a PDF document) could not be used. The message always starts with "Invalid file data". */
export class InvalidFileError extends ApiError {
  constructor(message: string, options: ApiErrorOptions & { code?: string } = {}) {
    super(400, 'invalid_request_error', options.code ?? 'invalid_file', message, options)
  }
}

/** 400: a video part could not be used. The message always starts with "Invalid video data". */
export class InvalidVideoError extends ApiError {
  constructor(message: string, options: ApiErrorOptions & { code?: string } = {}) {
    super(400, 'invalid_request_error', options.code ?? 'invalid_video', message, options)
  }
}

/** 413: a size limit was exceeded (body, image bytes, pixels). */
export class PayloadTooLargeError extends ApiError {
  constructor(message: string, options: ApiErrorOptions & { code?: string } = {}) {
    super(413, 'invalid_request_error', options.code ?? 'payload_too_large', message, options)
  }
}

/** 400: the prompt does not fit the context window. */
export class ContextLengthExceededError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(400, 'invalid_request_error', 'context_length_exceeded', message, { param: 'messages', ...options })
  }
}

/** 408: the request (headers and body) did not arrive within --body-timeout-seconds. */
export class RequestTimeoutError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(408, 'invalid_request_error', 'request_timeout', message, options)
  }
}

/** 404: unknown model or route. */
export class NotFoundError extends ApiError {
  constructor(message: string, options: ApiErrorOptions & { code?: string } = {}) {
    super(404, 'not_found_error', options.code ?? 'not_found', message, options)
  }
}

/** 401: an API key is configured and the request did not present it. */
export class AuthenticationError extends ApiError {
  constructor(message = 'Missing or invalid API key. Send it as "Authorization: Bearer <key>" or "x-api-key: <key>".') {
    super(401, 'authentication_error', 'invalid_api_key', message)
  }
}

/** 403: the caller is known to be refused (another web page's origin, a Host this server does not answer to). */
export class PermissionDeniedError extends ApiError {
  constructor(message: string, options: ApiErrorOptions & { code?: string } = {}) {
    super(403, 'permission_error', options.code ?? 'permission_denied', message, options)
  }
}

/** 503 with Retry-After: the queue is full or the server is draining. */
export class OverloadedError extends ApiError {
  constructor(message: string, retryAfterSeconds: number, options: ApiErrorOptions & { code?: string } = {}) {
    super(503, 'service_unavailable_error', options.code ?? 'overloaded', message, {
      ...options,
      headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))), ...options.headers },
    })
  }
}

/** 503: the engine is loading, restarting or gone. */
export class EngineUnavailableError extends ApiError {
  constructor(message: string, options: ApiErrorOptions & { code?: string; retryAfterSeconds?: number } = {}) {
    super(503, 'service_unavailable_error', options.code ?? 'engine_unavailable', message, {
      ...options,
      headers: { 'retry-after': String(options.retryAfterSeconds ?? 5), ...options.headers },
    })
  }
}

/** 503: this server has no batch data directory of its own (another server holds it). */
export class BatchesUnavailableError extends ApiError {
  constructor(message = 'Batches are off on this server: another Visto server uses its data directory (--data-dir).') {
    super(503, 'service_unavailable_error', 'batches_unavailable', message)
  }
}

/**
 * 503: this server keeps no responses (it has no data directory of its own), so it cannot
 * store one, continue one (`previous_response_id`) or return one.
 */
export class ResponsesUnavailableError extends ApiError {
  constructor(param: string) {
    super(
      503,
      'service_unavailable_error',
      'responses_store_unavailable',
      'Stored responses are off on this server: another Visto server uses its data directory (--data-dir). Send "store": false and the whole conversation in "input" instead.',
      { param },
    )
  }
}

/** 507: the data directory's disk is full; the request can succeed once space is freed. */
export class InsufficientStorageError extends ApiError {
  constructor(message: string, options: ApiErrorOptions & { code?: string } = {}) {
    super(507, 'server_error', options.code ?? 'insufficient_storage', message, options)
  }
}

/** 500: a real server fault. The message is generic; details go to the log. */
export class InternalServerError extends ApiError {
  constructor(message = 'The server had an error while processing your request.', options: ApiErrorOptions = {}) {
    super(500, 'server_error', 'internal_error', message, options)
  }
}

/** 502: an upstream OpenAI-compatible engine answered with something we cannot use. */
export class UpstreamError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(502, 'server_error', 'upstream_error', message, options)
  }
}

/**
 * 499 (nginx's "client closed request"): the client went away before its answer was
 * complete. Nobody receives it; it exists so that logs count a disconnect as what it
 * is, at info level, and never as a server fault.
 */
export class ClientClosedRequestError extends ApiError {
  constructor(options: ApiErrorOptions = {}) {
    super(499, 'invalid_request_error', 'client_closed_request', 'The client closed the connection before the response was complete.', options)
  }
}

/**
 * What a failure means to whoever asked, outside HTTP too (a batch line's result):
 * an ApiError is itself; anything else is a server fault, a 500 that keeps its cause.
 */
export function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new InternalServerError(undefined, { cause: error })
}

/** The registry a test enumerates: each class, and the status it must render with. */
export const errorRegistry = {
  InvalidRequestError: 400,
  InvalidImageError: 400,
  InvalidFileError: 400,
  InvalidVideoError: 400,
  ContextLengthExceededError: 400,
  AuthenticationError: 401,
  PermissionDeniedError: 403,
  NotFoundError: 404,
  RequestTimeoutError: 408,
  PayloadTooLargeError: 413,
  ClientClosedRequestError: 499,
  InternalServerError: 500,
  UpstreamError: 502,
  OverloadedError: 503,
  EngineUnavailableError: 503,
  BatchesUnavailableError: 503,
  ResponsesUnavailableError: 503,
  InsufficientStorageError: 507,
} as const
