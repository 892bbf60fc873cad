import type { FastifyMultipartOptions } from '@fastify/multipart'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { contentDisposition } from '../files/content-disposition.js'
import { fileObject, type FilesService } from '../files/files-service.js'
import { InvalidRequestError } from '../errors.js'
import { mapMultipartError } from './multipart-errors.js'

type IdParams = { Params: { file_id: string } }

/** OpenAI's Files API for batch input and output: upload (multipart, streamed to disk), list, retrieve, content, delete. */
export function filesHandlers(service: FilesService) {
  const uploadForm: FastifyMultipartOptions = {
    limits: {
      // One byte over our own limit, so the storage layer reports the size with its own message.
      fileSize: service.limits.maxFileBytes + 1,
      files: 1,
      fields: 8,
      fieldSize: 4096,
      parts: 12,
      headerPairs: 200,
    },
  }

  const upload = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.isMultipart()) {
      throw new InvalidRequestError('Send multipart/form-data with a "file" and purpose=batch (curl -F purpose=batch -F file=@requests.jsonl …)', {
        param: 'file',
        code: 'invalid_content_type',
      })
    }
    const fields = new Map<string, string>()
    let upload: { tempPath: string; bytes: number; filename: string } | undefined
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file' || upload) {
            part.file.resume()
            throw new InvalidRequestError(`Unexpected file field "${part.fieldname}"; send one file in the "file" field`, { param: part.fieldname, code: 'unknown_field' })
          }
          const received = await service.receiveUpload(part.file)
          upload = { ...received, filename: part.filename }
        } else {
          fields.set(part.fieldname, String(part.value))
        }
      }
    } catch (error) {
      if (upload) await service.storage.discard(upload.tempPath)
      // Refused before the body was all read (too large, no disk space): the rest of it
      // would hold the connection, so a client's next request must not wait behind it.
      if (!request.raw.complete) reply.header('connection', 'close')
      throw mapMultipartError(error, { tooManyFields: 'Too many form fields: send one "file" and "purpose"' })
    }
    if (!upload) throw new InvalidRequestError('No file: send the JSONL requests in the "file" field', { param: 'file', code: 'missing_required_parameter' })
    let expiresAfterSeconds: number | undefined
    const anchor = fields.get('expires_after[anchor]')
    const seconds = fields.get('expires_after[seconds]')
    if (anchor !== undefined || seconds !== undefined) {
      const value = Number(seconds)
      if (anchor !== 'created_at' || !Number.isInteger(value) || value < 3600 || value > 30 * 24 * 3600) {
        await service.storage.discard(upload.tempPath)
        throw new InvalidRequestError('expires_after needs anchor "created_at" and seconds from 3600 to 2592000', { param: 'expires_after', code: 'invalid_value' })
      }
      expiresAfterSeconds = value
    }
    const record = await service.storeUpload(upload, { filename: upload.filename, purpose: fields.get('purpose'), expiresAfterSeconds })
    return reply.code(200).send(fileObject(record))
  }

  const list = async (request: FastifyRequest<{ Querystring: Record<string, string | undefined> }>) =>
    service.list({ after: request.query.after, limit: request.query.limit, order: request.query.order, purpose: request.query.purpose })

  const retrieve = async (request: FastifyRequest<IdParams>) => fileObject(service.get(request.params.file_id))

  const content = async (request: FastifyRequest<IdParams>, reply: FastifyReply) => {
    const file = service.get(request.params.file_id)
    const stream = service.storage.openRead(file.id)
    return reply.type('application/jsonl').header('content-disposition', contentDisposition(file.filename)).send(stream)
  }

  const remove = async (request: FastifyRequest<IdParams>) => service.delete(request.params.file_id)

  return { uploadForm, upload, list, retrieve, content, remove }
}
