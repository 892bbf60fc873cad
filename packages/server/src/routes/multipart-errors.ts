import { ApiError, InvalidRequestError } from '../errors.js'

/** What one upload route tells the client when a form breaks one of its limits. */
export interface MultipartErrorContext {
  /** A file over the per-file size (@fastify/multipart's FST_REQ_FILE_TOO_LARGE); without it, a malformed form. */
  fileTooLarge?: () => ApiError
  /** More files than the form may carry (FST_FILES_LIMIT); without it, too many fields. */
  tooManyFiles?: () => ApiError
  /** The message for too many fields or parts: what the form should hold. */
  tooManyFields: string
}

/**
 * What a failure while reading a multipart form means to the client. ApiErrors pass
 * through; @fastify/multipart marks its limits with codes; busboy reports a cut-off or
 * garbled form with a plain Error ("Unexpected end of multipart data"), the client's
 * mistake, a 400. Our own bugs (TypeError and friends) come back as they are, to stay 500s.
 * Returns the error to throw.
 */
export function mapMultipartError(error: unknown, context: MultipartErrorContext): unknown {
  if (error instanceof ApiError || error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError) return error
  const code = (error as { code?: string }).code
  if (code === 'FST_REQ_FILE_TOO_LARGE' && context.fileTooLarge) return context.fileTooLarge()
  if (code === 'FST_FILES_LIMIT' && context.tooManyFiles) return context.tooManyFiles()
  if (code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') {
    return new InvalidRequestError(context.tooManyFields, { param: 'body', code: 'too_many_fields' })
  }
  const detail = error instanceof Error ? error.message.split('\n')[0]!.slice(0, 120) : String(error)
  return new InvalidRequestError(`Malformed multipart/form-data body: ${detail}`, { param: 'body', code: 'invalid_multipart' })
}
