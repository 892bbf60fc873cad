import { createHash } from 'node:crypto'
import type { ResponsesImageDetail, ResponsesInputContent, ResponsesStoredItem } from '@visto/protocol'
import { InvalidRequestError } from '../errors.js'
import type { EngineToolCall } from '../engines/engine.js'
import { invalidImage, uploadImageLocation } from '../images/image-errors.js'
import type { ChatJobMessage, ChatJobPart } from '../serving/chat-job.js'
import { TextBudget } from '../serving/chat-request.js'
import type { ChatRequestLimits } from '../serving/request-limits.js'

/** An earlier response of the conversation (via `previous_response_id`): its input items, then its output. */
export interface EarlierTurn {
  responseId: string
  items: ResponsesStoredItem[]
}

/** Reads an uploaded file's bytes by id; undefined: no such file. Absent when the server has no Files API. */
export type FileReader = ((fileId: string) => Promise<Buffer | undefined>) | undefined

function fail(message: string, param: string, code = 'invalid_value'): never {
  throw new InvalidRequestError(message, { param, code })
}

/**
 * The whole conversation as chat messages: the request's `instructions` first (those of
 * earlier responses are not carried over, as OpenAI does), then every earlier turn's
 * input and output, then this request's input. A run of `function_call` items joins the
 * assistant message before it (the model made the calls in that answer);
 * `function_call_output` becomes a tool message. The request limits (messages, text)
 * apply to the whole conversation, since all of it reaches the engine.
 */
export async function conversationMessages(
  request: { instructions: string | null; items: readonly ResponsesStoredItem[] },
  earlier: readonly EarlierTurn[],
  limits: ChatRequestLimits,
  readFile: FileReader,
): Promise<ChatJobMessage[]> {
  const budget = new TextBudget(limits.maxTextChars)
  const messages: ChatJobMessage[] = []
  const callIds = new Set<string>()
  if (request.instructions !== null && request.instructions !== '')
    messages.push({ role: 'system', parts: [{ type: 'text', text: budget.take(request.instructions, 'instructions') }] })
  const located: Array<{ item: ResponsesStoredItem; where: string }> = []
  for (const turn of earlier) {
    for (const [i, item] of turn.items.entries()) located.push({ item, where: `previous_response_id (${turn.responseId} item ${i})` })
  }
  for (const [i, item] of request.items.entries()) located.push({ item, where: `input[${i}]` })

  for (const { item, where } of located) {
    switch (item.type) {
      case 'message': {
        if (item.role === 'assistant') {
          const text = item.content.map((part) => (part.type === 'output_text' ? part.text : part.refusal)).join('')
          messages.push({ role: 'assistant', parts: text === '' ? [] : [{ type: 'text', text: budget.take(text, `${where}.content`) }] })
          break
        }
        messages.push({ role: item.role === 'user' ? 'user' : 'system', parts: await contentParts(item.content, `${where}.content`, budget, readFile) })
        break
      }
      case 'function_call': {
        const call: EngineToolCall = {
          id: budget.take(item.call_id, `${where}.call_id`),
          name: budget.take(item.name, `${where}.name`),
          arguments: budget.take(item.arguments, `${where}.arguments`),
        }
        callIds.add(call.id)
        const last = messages.at(-1)
        if (last?.role === 'assistant') last.toolCalls = [...(last.toolCalls ?? []), call]
        else messages.push({ role: 'assistant', parts: [], toolCalls: [call] })
        break
      }
      case 'function_call_output': {
        if (!callIds.has(item.call_id)) fail(`${where} answers the call "${item.call_id.slice(0, 64)}", which no earlier function_call made`, `${where}.call_id`)
        const parts = typeof item.output === 'string' ? [{ type: 'input_text' as const, text: item.output }] : item.output
        messages.push({ role: 'tool', toolCallId: item.call_id, parts: await contentParts(parts, `${where}.output`, budget, readFile) })
        break
      }
    }
    if (messages.length > limits.maxMessages) {
      fail(
        `Too many messages: the conversation has over ${limits.maxMessages} (--max-messages); start a new one, or raise the limit`,
        earlier.length > 0 ? 'previous_response_id' : 'input',
        'too_many_messages',
      )
    }
  }
  if (!messages.some((m) => m.role === 'user')) fail('The conversation must contain at least one user message', 'input')
  return messages
}

async function contentParts(content: readonly ResponsesInputContent[], at: string, budget: TextBudget, readFile: FileReader): Promise<ChatJobPart[]> {
  const parts: ChatJobPart[] = []
  for (const [j, part] of content.entries()) {
    const where = `${at}[${j}]`
    if (part.type === 'input_text') parts.push({ type: 'text', text: budget.take(part.text, `${where}.text`) })
    else if (part.type === 'input_image') {
      const detail = chatDetail(part.detail)
      if (typeof part.image_url === 'string') parts.push({ type: 'image', url: part.image_url, detail, where })
      else parts.push({ type: 'image', ...(await uploadedImage(part.file_id ?? '', where, readFile)), detail, where })
    } else {
      parts.push({
        type: 'file',
        where,
        filename: part.filename,
        fileData: part.file_data,
        fileId: part.file_data === undefined ? (part.file_id ?? undefined) : undefined,
        pages: undefined,
        detail: 'auto',
      })
    }
  }
  return parts
}

/** An image uploaded through the Files API: its bytes, and their sha256 (the response cache keys them as the same bytes sent inline). */
async function uploadedImage(fileId: string, where: string, readFile: FileReader): Promise<{ bytes: Buffer; sha256: string }> {
  const location = { ...uploadImageLocation(where), param: `${where}.file_id` }
  if (!readFile)
    throw invalidImage(location, 'file_id is not supported: uploaded files are not enabled on this server; send the image inline as "image_url": "data:image/...;base64,..."', {
      code: 'file_uploads_disabled',
    })
  const bytes = await readFile(fileId)
  if (bytes === undefined) throw invalidImage(location, `no uploaded file has the id ${JSON.stringify(fileId.slice(0, 80))}`, { code: 'file_not_found' })
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') }
}

/** `original` asks for the image as it is: the largest budget Visto has. */
function chatDetail(detail: ResponsesImageDetail | undefined): 'low' | 'high' | 'auto' {
  return detail === 'original' ? 'high' : (detail ?? 'auto')
}
