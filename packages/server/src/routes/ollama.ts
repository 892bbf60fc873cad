import type { OllamaPsResponse, OllamaShowResponse, OllamaTagsResponse, OllamaVersionResponse } from '@visto/protocol'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Engine } from '../engines/engine.js'
import { InvalidRequestError, NotFoundError } from '../errors.js'
import { errorBody } from '../http-errors.js'
import { serverVersion } from '../server-version.js'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import type { ChatJob } from '../serving/chat-job.js'
import { describeJsonType, isJsonObject } from '../serving/json-value.js'
import { collectOllamaAnswer, loadedAnswer, streamOllamaAnswer, type OllamaAnswer, type OllamaEndpoint } from '../serving/ollama-answers.js'
import { OllamaModelCatalog, type ModelFiles } from '../serving/ollama-models.js'
import { parseOllamaChat, parseOllamaGenerate, type OllamaJobRequest } from '../serving/ollama-request.js'
import { cacheDirective } from '../serving/response-cache.js'
import { clientDisconnectSignal } from './client-disconnect.js'
import { ndjsonEventStream, sendEventStream } from './event-stream.js'

const ollamaStream = ndjsonEventStream((error) => errorBody(error, 'ollama'))

/** The paths Visto serves of Ollama's API, for the answer to any other. */
const served = 'POST /api/chat, POST /api/generate, GET /api/tags, POST /api/show, GET /api/ps and GET /api/version'

/**
 * Ollama's native API on Visto's port, through the same chat jobs, limits, cache and
 * engine as every other entry point. Errors are Ollama's `{"error": "…"}` (the route
 * table's `errorFormat`).
 */
export function ollamaHandlers(deps: { chat: ChatCompletionsService; engine: Engine; modelFiles: ModelFiles | undefined; startedAt: number }) {
  const { chat, engine } = deps
  const catalog = new OllamaModelCatalog(engine, { files: deps.modelFiles, startedAt: deps.startedAt })

  /** Runs one request of /api/chat or /api/generate: one object, or an NDJSON stream (Ollama's default). */
  const answer = async (endpoint: OllamaEndpoint, parsed: OllamaJobRequest, request: FastifyRequest, reply: FastifyReply): Promise<OllamaAnswer | undefined> => {
    const signal = clientDisconnectSignal(reply)
    if (parsed.loadOnly) {
      // Ollama's way to load a model ahead of use: Visto's is loaded from the start (503 while it loads).
      await engine.health()
      return loadedAnswer(endpoint, parsed.name)
    }
    const job: ChatJob = { ...parsed.request, requestId: request.id, admission: { class: 'interactive' }, cache: cacheDirective(request.headers['cache-control']) }
    // Validation, images and the engine slot all happen before any byte is written.
    const prepared = await chat.prepare(job, signal)
    if (prepared.cache) reply.header('x-visto-cache', prepared.cache)
    // A prompt the engine rejects at once fails here, as a plain HTTP error, streamed or not.
    const events = await chat.startEvents(prepared, signal)
    if (!job.stream) return collectOllamaAnswer(endpoint, parsed.name, prepared.startedAt, events, job.sampling.logprobs !== undefined)
    await sendEventStream(request, reply, streamOllamaAnswer(endpoint, parsed.name, prepared.startedAt, events), ollamaStream, signal)
    return undefined
  }

  return {
    chat: async (request: FastifyRequest, reply: FastifyReply) => answer('chat', parseOllamaChat(request.body, engine.describe().models, chat.requestLimits), request, reply),
    generate: async (request: FastifyRequest, reply: FastifyReply) =>
      answer('generate', parseOllamaGenerate(request.body, engine.describe().models, chat.requestLimits), request, reply),
    tags: async (): Promise<OllamaTagsResponse> => catalog.tags(),
    ps: async (): Promise<OllamaPsResponse> => catalog.ps(),
    show: async (request: FastifyRequest): Promise<OllamaShowResponse> => {
      const body = request.body
      if (!isJsonObject(body)) throw new InvalidRequestError(`The request body must be a JSON object, got ${describeJsonType(body)}`, { param: 'body', code: 'invalid_body' })
      // `name` is what Ollama's older clients send.
      const name = body.model ?? body.name
      if (name === undefined || name === null || name === '') throw new InvalidRequestError('model is required', { param: 'model', code: 'missing_required_parameter' })
      if (typeof name !== 'string') throw new InvalidRequestError(`model must be a string, got ${describeJsonType(name)}`, { param: 'model', code: 'invalid_type' })
      return catalog.show(name)
    },
    version: async (): Promise<OllamaVersionResponse> => ({ version: serverVersion }),
    /** Ollama's other routes (pull, create, embed …) manage or run models Visto does not have. */
    unserved: async (request: FastifyRequest): Promise<never> => {
      throw new NotFoundError(`Visto does not serve ${request.method} ${request.url.split('?')[0]} of Ollama's API; it serves ${served}`, { code: 'unknown_route' })
    },
  }
}
