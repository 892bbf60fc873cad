import { describe, expect, it } from 'vitest'
import { defaultChatRequestLimits } from '../serving/request-limits.js'
import { conversationMessages } from './conversation.js'
import { parseResponsesRequest } from './responses-request.js'

const limits = defaultChatRequestLimits
const parse = (body: object) => parseResponsesRequest(body, limits)

describe('conversationMessages', () => {
  it('joins function_call items to the assistant message before them and answers each with a tool message', async () => {
    const request = parse({
      input: [
        { role: 'user', content: 'Compare the two cities.' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Looking both up.' }] },
        { type: 'function_call', call_id: 'c1', name: 'weather', arguments: '{"city":"Oslo"}' },
        { type: 'function_call', call_id: 'c2', name: 'weather', arguments: '{"city":"Lima"}' },
        { type: 'function_call_output', call_id: 'c1', output: 'cold' },
        {
          type: 'function_call_output',
          call_id: 'c2',
          output: [
            { type: 'input_text', text: 'warm' },
            { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'original' },
          ],
        },
      ],
    })
    const messages = await conversationMessages(request, [], limits, undefined)
    expect(messages).toEqual([
      { role: 'user', parts: [{ type: 'text', text: 'Compare the two cities.' }] },
      {
        role: 'assistant',
        parts: [{ type: 'text', text: 'Looking both up.' }],
        toolCalls: [
          { id: 'c1', name: 'weather', arguments: '{"city":"Oslo"}' },
          { id: 'c2', name: 'weather', arguments: '{"city":"Lima"}' },
        ],
      },
      { role: 'tool', toolCallId: 'c1', parts: [{ type: 'text', text: 'cold' }] },
      {
        role: 'tool',
        toolCallId: 'c2',
        parts: [
          { type: 'text', text: 'warm' },
          { type: 'image', url: 'data:image/png;base64,AAAA', detail: 'high', where: 'input[5].output[1]' },
        ],
      },
    ])
  })

  it('counts the whole conversation against the limits, naming previous_response_id when the history is what overflows', async () => {
    const small = { ...limits, maxMessages: 3, maxTextChars: 40 }
    const earlier = [
      {
        responseId: 'resp_a',
        items: parse({
          input: [
            { role: 'user', content: 'one' },
            { role: 'assistant', content: 'two' },
            { role: 'user', content: 'three' },
          ],
        }).items,
      },
    ]
    await expect(conversationMessages(parse({ input: 'four' }), earlier, small, undefined)).rejects.toMatchObject({
      status: 400,
      param: 'previous_response_id',
      code: 'too_many_messages',
    })
    await expect(
      conversationMessages(parse({ input: 'x'.repeat(30) }), [{ responseId: 'resp_a', items: parse({ input: 'y'.repeat(20) }).items }], small, undefined),
    ).rejects.toMatchObject({
      status: 400,
      param: 'input[0].content[0].text',
      code: 'too_much_text',
    })
  })

  it('refuses a file_id image on a server without the Files API, saying to send it inline', async () => {
    await expect(conversationMessages(parse({ input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1' }] }] }), [], limits, undefined)).rejects.toMatchObject({
      status: 400,
      code: 'file_uploads_disabled',
      param: 'input[0].content[0].file_id',
    })
  })
})
