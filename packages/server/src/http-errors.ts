import { randomBytes } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { anthropicErrorBody } from './serving/anthropic-response.js'
import { isDiskFull } from './disk-space.js'
import { ApiError, asApiError, ClientClosedRequestError, InsufficientStorageError, InvalidRequestError, PayloadTooLargeError, RequestTimeoutError } from './errors.js'

/**
 * The one place errors become HTTP. ApiErrors render themselves; fastify's own body
 * errors become 400/413 in the same envelope; everything else is a logged 500 with a
 * generic message (a TypeError is a bug to fix, not a client mistake). A body over the
 * limit is answered by the app's error handler, which knows the limit (`bodyTooLarge`).
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error
  const fastifyError = error as Partial<FastifyError>
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new InvalidRequestError(`The request body is not valid JSON: ${fastifyError.message ?? 'parse error'}`, { param: 'body', code: 'invalid_json' })
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new InvalidRequestError('Unsupported Content-Type; send the body as application/json', { param: 'body', code: 'unsupported_media_type' })
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new InvalidRequestError('The Content-Length header does not match the body', { param: 'body', code: 'invalid_content_length' })
  }
  if (isDiskFull(error)) {
    return new InsufficientStorageError(
      "The server's disk is full: the data directory (--data-dir) has no space left for this request. Delete files you no longer need (DELETE /v1/files/{id}) or free space on the disk, then retry.",
      { cause: error },
    )
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
  return asApiError(error)
}

/** Fastify's own refusal of a body over its limit (the JSON parser's): it does not name the limit. */
export function isBodyLimitError(error: unknown): boolean {
  return (error as Partial<FastifyError> | undefined)?.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
}

/** 413 for a body over --body-limit-mb, whichever route read it. */
export function bodyTooLarge(bodyLimitBytes: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`Request body too large: the limit is ${(bodyLimitBytes / 1024 / 1024).toFixed(0)} MiB (--body-limit-mb). Send smaller or fewer images.`, {
    code: 'body_too_large',
  })
}

/**
 * Maps and logs an error: real server faults at error level with the cause, the rest at
 * info. Once the client has gone, whatever failed failed because nobody waits for it
 * any more (an aborted body, engine call or image fetch): a 499 at info, never a 500.
 */
export function reportError(error: unknown, request: FastifyRequest): ApiError {
  if (error instanceof ClientClosedRequestError || clientHasGone(request)) {
    const closed = error instanceof ClientClosedRequestError ? error : new ClientClosedRequestError({ cause: error })
    const detail = error instanceof ClientClosedRequestError ? undefined : error instanceof Error ? error.message : String(error)
    request.log.info({ status: closed.status, code: closed.code, ...(detail === undefined ? {} : { detail }) }, 'client disconnected before the response was complete')
    return closed
  }
  const apiError = toApiError(error)
  if (apiError.status >= 500 && apiError.status !== 503) request.log.error({ err: error, requestId: request.id }, 'request failed')
  else {
    // A cause holds what the server may know but the client must not (an SSRF refusal's
    // resolved address, a decoder's own words): logged here, never in the response.
    const detail = apiError.cause instanceof Error ? apiError.cause.message : undefined
    request.log.info({ status: apiError.status, code: apiError.code, ...(detail === undefined ? {} : { detail }) }, apiError.message)
  }
  return apiError
}

/** The connection is closed while its request is still being answered. */
function clientHasGone(request: FastifyRequest): boolean {
  // Not request.raw.destroyed: Node destroys a request stream once its body is read.
  return request.raw.socket?.destroyed === true
}

/**
 * How an API writes an error body: OpenAI's envelope for Visto's own and OpenAI's routes,
 * `{"error": "message"}` for Ollama's (its clients read the string), Anthropic's
 * `{"type": "error", "error": {type, message}}` for its Messages API. A route picks its
 * format in the route table (`errorFormat`), so every error on that route, the access
 * rule's refusals included, has it; the status and headers are the same in all.
 */
export type ErrorFormat = 'openai' | 'ollama' | 'anthropic'

const errorBodies: Record<ErrorFormat, (error: ApiError, requestId: string | null) => unknown> = {
  openai: (error) => error.toEnvelope(),
  ollama: (error) => ({ error: error.message }),
  anthropic: (error, requestId) => anthropicErrorBody(error, requestId),
}

export function errorBody(error: ApiError, format: ErrorFormat = 'openai', requestId: string | null = null): unknown {
  return errorBodies[format](error, requestId)
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's error body format (the access hook's refusals included); OpenAI's when unset. */
    errorFormat?: ErrorFormat
  }
}

/** Node's refusals of a header value (a character above U+00FF, a line break): thrown when the headers are written. */
const invalidHeaderCodes = new Set(['ERR_INVALID_CHAR', 'ERR_HTTP_INVALID_HEADER_VALUE', 'ERR_INVALID_HTTP_TOKEN'])

export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const apiError = reportError(error, request)
  // The headers set for the failed response hold the bad value and would fail the error
  // response too (and fastify would answer outside the envelope): only ours stay.
  if (invalidHeaderCodes.has((error as { code?: string } | undefined)?.code ?? '')) {
    for (const name of Object.keys(reply.getHeaders())) if (name !== 'x-request-id' && name !== 'vary' && !name.startsWith('access-control-')) reply.removeHeader(name)
    // The failed attempt left its own reason phrase ("OK") behind.
    reply.raw.statusMessage = STATUS_CODES[apiError.status] ?? ''
  }
  const body = errorBody(apiError, request.routeOptions.config?.errorFormat, request.id)
  return reply.code(apiError.status).headers(apiError.headers).type('application/json; charset=utf-8').send(body)
}

/**
 * Fastify's own refusals that happen before routing (a path parameter over its length
 * limit, a URL that does not decode), in the envelope like everything else. They skip
 * the onRequest hooks, so the request id is set here.
 */
export function sendFrameworkError(error: Error & { code?: string }, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.header('x-request-id', request.id)
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return sendError(new ApiError(414, 'invalid_request_error', 'uri_too_long', 'The URL is too long: a path segment such as an id may be at most 100 characters'), request, reply)
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    return sendError(new InvalidRequestError('The URL does not decode: a % must start a valid UTF-8 escape such as %2F', { code: 'invalid_url' }), request, reply)
  }
  return sendError(error, request, reply)
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
  } else if (error.code === 'HPE_INVALID_CHUNK_SIZE' || error.code === 'HPE_INVALID_TRANSFER_ENCODING' || error.code === 'HPE_UNEXPECTED_CONTENT_LENGTH') {
    apiError = new InvalidRequestError('Malformed request body framing: the chunked encoding or the Content-Length and Transfer-Encoding headers are invalid', {
      code: 'malformed_request',
    })
  } else if (error.code === 'HPE_HEADER_OVERFLOW') {
    apiError = new ApiError(431, 'invalid_request_error', 'headers_too_large', 'The request headers are too large')
  } else {
    apiError = new InvalidRequestError('Malformed HTTP request', { code: 'malformed_request' })
  }
  // A response already under way cannot take a second status line; just close.
  const response = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && !response?.headersSent) {
    const body = JSON.stringify(apiError.toEnvelope())
    const reason = { 400: 'Bad Request', 408: 'Request Timeout', 414: 'URI Too Long', 431: 'Request Header Fields Too Large' }[apiError.status] ?? 'Error'
    // No request was parsed, so no id came with it: a fresh one, like every other response's.
    socket.write(
      `HTTP/1.1 ${apiError.status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nx-request-id: ${newRequestId()}\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy(error)
}

/** `req_` and 24 hex digits: the id of a request that brought none (or none usable). */
export function newRequestId(): string {
  return `req_${randomBytes(12).toString('hex')}`
}
