import { describe, expect, it } from 'vitest'
import { InvalidRequestError, PayloadTooLargeError } from '../errors.js'
import { mapMultipartError, type MultipartErrorContext } from './multipart-errors.js'

const withCode = (code: string) => Object.assign(new Error(code.toLowerCase()), { code })

const uploads: MultipartErrorContext = {
  fileTooLarge: () => new PayloadTooLargeError('Image too large in image[0]', { param: 'image[0]', code: 'image_too_large' }),
  tooManyFiles: () => new InvalidRequestError('Too many images', { param: 'image', code: 'too_many_images' }),
  tooManyFields: 'Too many form fields',
}
const oneFile: MultipartErrorContext = { tooManyFields: 'Too many form fields: send one "file" and "purpose"' }

const body = (error: unknown) => (error as InvalidRequestError).toBody()

describe('mapMultipartError', () => {
  it("answers the form's limits with the route's own words", () => {
    expect(body(mapMultipartError(withCode('FST_REQ_FILE_TOO_LARGE'), uploads))).toMatchObject({ param: 'image[0]', code: 'image_too_large' })
    expect(body(mapMultipartError(withCode('FST_FILES_LIMIT'), uploads))).toMatchObject({ param: 'image', code: 'too_many_images' })
    expect(body(mapMultipartError(withCode('FST_PARTS_LIMIT'), uploads))).toEqual({
      message: 'Too many form fields',
      type: 'invalid_request_error',
      param: 'body',
      code: 'too_many_fields',
    })
  })

  it('counts extra files as extra fields where a route names no file limit', () => {
    for (const code of ['FST_FILES_LIMIT', 'FST_FIELDS_LIMIT', 'FST_PARTS_LIMIT']) {
      expect(body(mapMultipartError(withCode(code), oneFile))).toEqual({
        message: 'Too many form fields: send one "file" and "purpose"',
        type: 'invalid_request_error',
        param: 'body',
        code: 'too_many_fields',
      })
    }
  })

  it("calls a cut-off form the client's mistake, with busboy's first line", () => {
    expect(body(mapMultipartError(new Error('Unexpected end of multipart data\n    at Multipart._final'), oneFile))).toEqual({
      message: 'Malformed multipart/form-data body: Unexpected end of multipart data',
      type: 'invalid_request_error',
      param: 'body',
      code: 'invalid_multipart',
    })
    expect(body(mapMultipartError(withCode('FST_REQ_FILE_TOO_LARGE'), oneFile))).toMatchObject({ code: 'invalid_multipart' })
  })

  it('passes ApiErrors through, and leaves our own bugs to become 500s', () => {
    const refusal = new InvalidRequestError('Unexpected file field "x"', { param: 'x', code: 'unknown_field' })
    expect(mapMultipartError(refusal, uploads)).toBe(refusal)
    for (const bug of [new TypeError('x is not a function'), new RangeError('bad length'), new ReferenceError('y is not defined')]) {
      expect(mapMultipartError(bug, uploads)).toBe(bug)
    }
  })
})
