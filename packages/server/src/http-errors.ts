import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, InternalServerError, InvalidRequestError, PayloadTooLargeError, RequestTimeoutError } from './errors.js'

/**
 * The one place errors become HTTP. ApiErrors render themselves; fastify's own body
 * errors become 400/413 in the same envelope; everything else is a logged 500 with a
 * generic message (a TypeError is a bug to fix, not a client mistake).
 */
export function toApiError(error: unknown, bodyLimitBytes: number): ApiError {
  if (error instanceof ApiError) return error
  const fastifyError = error as Partial<FastifyError>
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return bodyTooLarge(bodyLimitBytes)
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new InvalidRequestError(`The request body is not valid JSON: ${fastifyError.message ?? 'parse error'}`, { param: 'body', code: 'invalid_json' })
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new InvalidRequestError('Unsupported Content-Type; send the body as application/json', { param: 'body', code: 'unsupported_media_type' })
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new InvalidRequestError('The Content-Length header does not match the body', { param: 'body', code: 'invalid_content_length' })
  }
  if (error instanceof SyntaxError && /JSON/.test(error.message)) {
    return new InvalidRequestError(`The request body is not valid JSON: ${error.message}`, { param: 'body', code: 'invalid_json' })
  }
  // Multipart and other plugins mark client mistakes with a 4xx statusCode.
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500 && fastifyError.code?.startsWith('FST_')) {
    return fastifyError.statusCode === 413
      ? new PayloadTooLargeError(fastifyError.message ?? 'Payload too large')
      : new InvalidRequestError(fastifyError.message ?? 'Bad request', { code: fastifyError.code.toLowerCase() })
  }
  return new InternalServerError(undefined, { cause: error })
}

/** 413 for a body over --body-limit-mb, whichever route read it. */
export function bodyTooLarge(bodyLimitBytes: number): PayloadTooLargeError {
  return new PayloadTooLargeError(
    `Request body too large: the limit is ${(bodyLimitBytes / 1024 / 1024).toFixed(0)} MiB (--body-limit-mb). Send smaller or fewer images.`,
    { code: 'body_too_large' },
  )
}

/** Maps and logs an error: real server faults at error level with the cause, the rest at info. */
export function reportError(error: unknown, request: FastifyRequest, bodyLimitBytes: number): ApiError {
  const apiError = toApiError(error, bodyLimitBytes)
  if (apiError.status >= 500 && apiError.status !== 503) request.log.error({ err: error, requestId: request.id }, 'request failed')
  else request.log.info({ status: apiError.status, code: apiError.code }, apiError.message)
  return apiError
}

export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply, bodyLimitBytes: number): FastifyReply {
  const apiError = reportError(error, request, bodyLimitBytes)
  return reply.code(apiError.status).headers(apiError.headers).type('application/json; charset=utf-8').send(apiError.toEnvelope())
}

/**
 * Errors Node's HTTP server raises before a request reaches a route (a body that does not
 * arrive in time, oversized headers, garbage on the wire), answered in the same envelope
 * straight on the socket, which is then closed.
 */
export function sendClientError(error: Error & { code?: string }, socket: Socket, bodyTimeoutMs: number): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  let apiError: ApiError
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    apiError = new RequestTimeoutError(
      `The request was not received within ${Math.round(bodyTimeoutMs / 1000)} s (--body-timeout-seconds); send the body faster or raise the limit`,
      { param: 'body' },
    )
  } else if (error.code === 'HPE_HEADER_OVERFLOW') {
    apiError = new ApiError(431, 'invalid_request_error', 'headers_too_large', 'The request headers are too large')
  } else {
    apiError = new InvalidRequestError('Malformed HTTP request', { code: 'malformed_request' })
  }
  // A response already under way cannot take a second status line; just close.
  const response = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && !response?.headersSent) {
    const body = JSON.stringify(apiError.toEnvelope())
    const reason = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[apiError.status] ?? 'Error'
    socket.write(
      `HTTP/1.1 ${apiError.status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy(error)
}
