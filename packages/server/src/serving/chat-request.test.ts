import { describe, expect, it } from 'vitest'
import { InvalidRequestError } from '../errors.js'
import { parseChatRequest } from './chat-request.js'
import { describeSceneRequest } from '../../../../test-support/requests.js'

const image = 'data:image/jpeg;base64,AAAA'
const sceneRequest = describeSceneRequest(image)

function rejection(body: unknown): { message: string; param: string | null; status: number } {
  try {
    parseChatRequest(body)
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError)
    const e = error as InvalidRequestError
    return { message: e.message, param: e.param, status: e.status }
  }
  throw new Error('expected a rejection')
}

describe('parseChatRequest', () => {
  it('accepts a typical vision request and keeps its parameters', () => {
    const parsed = parseChatRequest(sceneRequest)
    expect(parsed.model).toBe('qwen3-vl-4b-instruct')
    expect(parsed.messages).toEqual([
      {
        role: 'user',
        parts: [
          { type: 'text', text: '请详细描述这张图片中的场景' },
          { type: 'image', url: image, detail: 'auto', where: 'messages[0].content[1]' },
        ],
      },
    ])
    expect(parsed.sampling.maxTokens).toBe(1024)
    expect(parsed.sampling.temperature).toBe(0.3)
    expect(parsed.stream).toBe(false)
  })

  it('accepts string content, multi-turn history and image_url as a bare string', () => {
    const parsed = parseChatRequest({
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: [{ type: 'image_url', image_url: image }] },
        { role: 'assistant', content: 'A cat.' },
        { role: 'user', content: 'What colour?' },
      ],
    })
    expect(parsed.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user'])
    expect(parsed.messages[1]!.parts[0]).toMatchObject({ type: 'image', url: image })
  })

  it('prefers max_completion_tokens over max_tokens', () => {
    expect(parseChatRequest({ ...sceneRequest, max_completion_tokens: 12 }).sampling.maxTokens).toBe(12)
  })

  it('returns 400 "content must be a string or array" naming the message', () => {
    const result = rejection({ messages: [{ role: 'user', content: 42 }] })
    expect(result.status).toBe(400)
    expect(result.message).toBe('content must be a string or array of content parts: messages[0].content is a number')
    expect(result.param).toBe('messages[0].content')
  })

  it('returns 400 "content must be a string or array" for a part without a type', () => {
    const result = rejection({ messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { text: 'no type' }] }] })
    expect(result.message).toContain('content must be a string or array')
    expect(result.message).toContain('messages[0].content[1]')
    expect(result.param).toBe('messages[0].content[1].type')
  })

  it('names an unknown part type', () => {
    const result = rejection({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] })
    expect(result.message).toBe('Unsupported content part type "input_audio" in messages[0].content[0]; supported types are "text", "image_url", "video_url" and "file"')
  })

  it.each([
    [{ ...sceneRequest, temperature: 3 }, 'temperature', 'temperature must be at most 2, got 3'],
    [{ ...sceneRequest, max_tokens: 0 }, 'max_tokens', 'max_tokens must be at least 1, got 0'],
    [{ ...sceneRequest, max_tokens: 'many' }, 'max_tokens', 'max_tokens must be a number, got a string'],
    [{ ...sceneRequest, n: 0 }, 'n', 'n must be at least 1, got 0'],
    [{ ...sceneRequest, top_p: 0 }, 'top_p', 'top_p must be greater than 0, got 0'],
    [{ ...sceneRequest, stop: [1] }, 'stop', 'stop must be a string or an array of at most 4 strings'],
    [{ ...sceneRequest, response_format: { type: 'xml' } }, 'response_format.type', 'response_format.type must be "text", "json_object" or "json_schema", got "xml"'],
    [{ model: 'x' }, 'messages', 'messages is required: a non-empty array of {role, content}'],
    [{ messages: [] }, 'messages', 'messages must be a non-empty array, got an empty array'],
    [{ messages: [{ role: 'wizard', content: 'hi' }] }, 'messages[0].role', 'messages[0].role must be "system", "user", "assistant" or "tool", got "wizard"'],
    [[1, 2], 'body', 'The request body must be a JSON object, got an array'],
  ])('rejects invalid parameters, naming them (%#)', (body, param, message) => {
    const result = rejection(body)
    expect(result.param).toBe(param)
    expect(result.message).toBe(message)
  })

  it('maps response_format to a JSON schema for the engine', () => {
    expect(parseChatRequest({ ...sceneRequest, response_format: { type: 'json_object' } }).sampling.jsonSchema).toEqual({ type: 'object' })
    const schema = { type: 'object', properties: { a: { type: 'string' } } }
    expect(parseChatRequest({ ...sceneRequest, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } }).sampling.jsonSchema).toEqual(schema)
  })

  it('only reports usage in streams when stream_options.include_usage is set', () => {
    expect(parseChatRequest({ ...sceneRequest, stream: true, stream_options: { include_usage: true } }).includeUsage).toBe(true)
    expect(parseChatRequest({ ...sceneRequest, stream: true }).includeUsage).toBe(false)
  })
})

describe('parseChatRequest: file parts (PDF documents)', () => {
  const pdf = 'data:application/pdf;base64,JVBERi0xLjcK'

  it("accepts OpenAI's file part with file_data, and Visto's pages and detail", () => {
    const parsed = parseChatRequest({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Summarise' },
            { type: 'file', file: { filename: 'a.pdf', file_data: pdf, pages: '1-3,7', detail: 'low' } },
          ],
        },
      ],
    })
    expect(parsed.messages[0]!.parts[1]).toEqual({
      type: 'file',
      where: 'messages[0].content[1]',
      filename: 'a.pdf',
      fileData: pdf,
      fileId: undefined,
      pages: '1-3,7',
      detail: 'low',
    })
  })

  it('accepts file_id, detail defaulting to auto', () => {
    const parsed = parseChatRequest({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }] })
    expect(parsed.messages[0]!.parts[0]).toMatchObject({ type: 'file', fileId: 'file-1', fileData: undefined, detail: 'auto' })
  })

  it.each([
    [
      { type: 'file' },
      'messages[0].content[0].file must be an object with "file_data" (a data:application/pdf;base64 URL) or "file_id", got undefined',
      'messages[0].content[0].file',
    ],
    [
      { type: 'file', file: {} },
      'messages[0].content[0].file needs exactly one of "file_data" (the PDF inline, as data:application/pdf;base64,...) and "file_id" (an uploaded file)',
      'messages[0].content[0].file',
    ],
    [
      { type: 'file', file: { file_data: pdf, file_id: 'x' } },
      'messages[0].content[0].file needs exactly one of "file_data" (the PDF inline, as data:application/pdf;base64,...) and "file_id" (an uploaded file)',
      'messages[0].content[0].file',
    ],
    [{ type: 'file', file: { file_data: 12 } }, 'messages[0].content[0].file.file_data must be a string, got a number', 'messages[0].content[0].file.file_data'],
    [{ type: 'file', file: { file_data: pdf, pages: [1, 2] } }, 'messages[0].content[0].file.pages must be a string, got an array', 'messages[0].content[0].file.pages'],
    [
      { type: 'file', file: { file_data: pdf, detail: 'ultra' } },
      'messages[0].content[0].file.detail must be "low", "high" or "auto", got "ultra"',
      'messages[0].content[0].file.detail',
    ],
  ])('refuses a malformed file part %#', (part, message, param) => {
    expect(rejection({ messages: [{ role: 'user', content: [part] }] })).toEqual({ message, param, status: 400 })
  })

  it('refuses a file part outside user messages', () => {
    const body = {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: [{ type: 'file', file: { file_data: pdf } }] },
      ],
    }
    expect(rejection(body).message).toBe('Files are only accepted in user messages; messages[1].content[0] is in an assistant message')
  })
})

describe('parseChatRequest: video_url parts', () => {
  const video = 'data:video/mp4;base64,AAAA'
  const withVideo = (videoUrl: unknown, role = 'user') => ({
    messages: [
      {
        role,
        content: [
          { type: 'video_url', video_url: videoUrl },
          { type: 'text', text: 'What happens?' },
        ],
      },
    ],
  })

  it("accepts vLLM's video_url part, and Visto's fps, max_frames and detail", () => {
    expect(parseChatRequest(withVideo({ url: video })).messages[0]!.parts[0]).toEqual({
      type: 'video',
      where: 'messages[0].content[0]',
      url: video,
      fileId: undefined,
      fps: undefined,
      maxFrames: undefined,
      detail: 'auto',
    })
    expect(parseChatRequest(withVideo({ file_id: 'file-abc', fps: 0.5, max_frames: 16, detail: 'low' })).messages[0]!.parts[0]).toEqual({
      type: 'video',
      where: 'messages[0].content[0]',
      url: undefined,
      fileId: 'file-abc',
      fps: 0.5,
      maxFrames: 16,
      detail: 'low',
    })
    expect(parseChatRequest(withVideo(video)).messages[0]!.parts[0]).toMatchObject({ type: 'video', url: video })
  })

  it.each([
    [
      {},
      'messages[0].content[0].video_url',
      'messages[0].content[0].video_url needs exactly one of "url" (the video inline, as data:video/mp4;base64,...) and "file_id" (an uploaded file)',
    ],
    [
      { url: video, file_id: 'file-abc' },
      'messages[0].content[0].video_url',
      'messages[0].content[0].video_url needs exactly one of "url" (the video inline, as data:video/mp4;base64,...) and "file_id" (an uploaded file)',
    ],
    [{ url: 7 }, 'messages[0].content[0].video_url.url', 'messages[0].content[0].video_url.url must be a string, got a number'],
    [{ url: video, fps: 0 }, 'messages[0].content[0].video_url.fps', 'messages[0].content[0].video_url.fps must be greater than 0 and at most 60 frames a second, got 0'],
    [{ url: video, fps: '2' }, 'messages[0].content[0].video_url.fps', 'messages[0].content[0].video_url.fps must be a number, got a string'],
    [{ url: video, max_frames: 3 }, 'messages[0].content[0].video_url.max_frames', 'messages[0].content[0].video_url.max_frames must be a whole number from 4 to 768, got 3'],
    [{ url: video, max_frames: 8.5 }, 'messages[0].content[0].video_url.max_frames', 'messages[0].content[0].video_url.max_frames must be a whole number from 4 to 768, got 8.5'],
    [{ url: video, detail: 'medium' }, 'messages[0].content[0].video_url.detail', 'messages[0].content[0].video_url.detail must be "low", "high" or "auto", got "medium"'],
    [42, 'messages[0].content[0].video_url', 'messages[0].content[0].video_url must be an object with a "url" (a data:video/mp4;base64 URL) or a "file_id", got a number'],
  ])('refuses video_url %j with a 400 naming %s', (videoUrl, param, message) => {
    const result = rejection(withVideo(videoUrl))
    expect(result).toEqual({ status: 400, param, message })
  })

  it('refuses a video outside user messages', () => {
    const body = {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: [{ type: 'video_url', video_url: { url: video } }] },
      ],
    }
    expect(rejection(body)).toEqual({
      status: 400,
      param: 'messages[1].content[0]',
      message: 'Videos are only accepted in user messages; messages[1].content[0] is in an assistant message',
    })
  })
})
