import { createHash } from 'node:crypto'

import { Template } from '@huggingface/jinja'
import { describe, expect, it } from 'vitest'

import { QWEN3_VL_CHAT_TEMPLATE } from './qwen3-vl-chat-template.js'

describe('Qwen3-VL chat template', () => {
  it('is byte-identical to the one shipped with Qwen3-VL-4B-Instruct', () => {
    // SHA-256 of chat_template.json's "chat_template" string.
    expect(createHash('sha256').update(QWEN3_VL_CHAT_TEMPLATE).digest('hex')).toBe('3636d0f0bd6bef02654cdffdc447b79cb2cef8ab02cc75267345946291a489e4')
  })

  it('renders a system prompt, an image and text the way Qwen3-VL expects', () => {
    const prompt = new Template(QWEN3_VL_CHAT_TEMPLATE).render({
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'x' } },
            { type: 'text', text: 'What is this?' },
          ],
        },
        { role: 'assistant', content: 'A cat.' },
        { role: 'user', content: 'Sure?' },
      ],
      add_generation_prompt: true,
    })
    expect(prompt).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n' +
        '<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is this?<|im_end|>\n' +
        '<|im_start|>assistant\nA cat.<|im_end|>\n' +
        '<|im_start|>user\nSure?<|im_end|>\n' +
        '<|im_start|>assistant\n',
    )
  })
})
