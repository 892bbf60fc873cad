/**
 * The one error envelope Visto answers with, everywhere (HTTP bodies and mid-stream
 * SSE events). It is OpenAI's: clients such as openai-node pick their error class from
 * the HTTP status and read `message`, `type`, `param` and `code` from here.
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'service_unavailable_error'

export interface ErrorBody {
  message: string
  type: ErrorType | string
  param: string | null
  code: string | null
}

export interface ErrorEnvelope {
  error: ErrorBody
}

export function isErrorEnvelope(value: unknown): value is ErrorEnvelope {
  if (typeof value !== 'object' || value === null) return false
  const error = (value as { error?: unknown }).error
  return typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string'
}
