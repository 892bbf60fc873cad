import { QWEN3_VL_CHAT_TEMPLATE } from '@visto/testkit/standin/qwen3-vl-chat-template'
import { describe, expect, it } from 'vitest'
import type { EngineImage } from '../engine.js'
import { ChatTemplate } from './chat-template.js'

const image = { data: Buffer.alloc(0), mime: 'image/png', width: 32, height: 32 } satisfies EngineImage

describe('ChatTemplate with tools (Qwen3-VL template)', () => {
  it('renders the tools, an earlier call and its result with an image the way Qwen3-VL was trained', () => {
    const prompt = new ChatTemplate(QWEN3_VL_CHAT_TEMPLATE).render(
      [
        { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Zoom in.' }] },
        { role: 'assistant', content: [], toolCalls: [{ id: 'call_1', name: 'zoom', arguments: '{"corner": "top-left"}' }] },
        {
          role: 'tool',
          toolCallId: 'call_1',
          content: [
            { type: 'text', text: 'Zoomed:' },
            { type: 'image', image },
          ],
        },
      ],
      '<__media__>',
      [{ name: 'zoom', description: 'Zoom in.', parameters: { type: 'object', properties: { corner: { type: 'string' } } } }],
    )
    expect(prompt).toBe(
      '<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
        'You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
        '{"type": "function", "function": {"name": "zoom", "description": "Zoom in.", "parameters": {"type": "object", "properties": {"corner": {"type": "string"}}}}}\n' +
        '</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n' +
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\nZoom in.<|im_end|>\n' +
        '<|im_start|>assistant\n<tool_call>\n{"name": "zoom", "arguments": {"corner": "top-left"}}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\nZoomed:<__media__>\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\n',
    )
  })

  it('renders no tools section without tools, as before', () => {
    const prompt = new ChatTemplate(QWEN3_VL_CHAT_TEMPLATE).render([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }], '<__media__>')
    expect(prompt).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n')
  })
})
