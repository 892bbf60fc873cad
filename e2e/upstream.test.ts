import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseServeConfig } from '../packages/server/src/config.js'
import { startServer, type RunningServer } from '../packages/server/src/main.js'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { freshDataDir } from '../test-support/data-dir.js'
import { startTinyServer } from '../test-support/in-process-server.js'

let upstream: RunningServer
let front: RunningServer

beforeAll(async () => {
  upstream = await startTinyServer()
  const config = parseServeConfig(['--port', '0', '--engine', 'openai', '--upstream-url', `${upstream.url}/v1`, '--log-level', 'silent', '--data-dir', freshDataDir()], {})
  front = await startServer(config, { log: () => {} })
  await front.ready
})
afterAll(async () => {
  await front?.shutdown()
  await upstream?.shutdown()
})

describe('--engine openai: Visto in front of another OpenAI-compatible server', () => {
  it('answers image requests through the upstream, streaming and not', async () => {
    const body = {
      model: 'qwen3-vl-4b-instruct',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Describe.' },
            { type: 'image_url', image_url: { url: dataUrl(await testImage(256, 192)) } },
          ],
        },
      ],
      max_tokens: 8,
      temperature: 0,
      seed: 7,
    }
    const post = (extra: Record<string, unknown> = {}) =>
      fetch(`${front.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, ...extra }) })
    const whole = (await (await post()).json()) as { choices: Array<{ message: { content: string } }>; usage: { prompt_tokens: number } }
    expect(typeof whole.choices[0]!.message.content).toBe('string')
    expect(whole.usage.prompt_tokens).toBeGreaterThan(48)
    const streamed = await (await post({ stream: true })).text()
    expect(streamed.trimEnd().endsWith('data: [DONE]')).toBe(true)
  })

  it('answers a prompt the upstream refuses with the same 400 JSON, streamed or not', async () => {
    const request = { messages: [{ role: 'user', content: 'hello world '.repeat(1500) }], max_tokens: 8 }
    const post = (extra: Record<string, unknown>) =>
      fetch(`${front.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...request, ...extra }) })
    const plain = await post({})
    const streamed = await post({ stream: true })
    expect(plain.status).toBe(400)
    expect(streamed.status).toBe(400)
    expect(streamed.headers.get('content-type')).toBe('application/json; charset=utf-8')
    const body = (await plain.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('context_length_exceeded')
    expect(body.error.message).toMatch(/^The upstream engine refused the prompt: This model's maximum context length is 2048 tokens/)
    expect(await streamed.json()).toEqual(body)
  })

  it('still validates images itself before anything reaches the upstream', async () => {
    const response = await fetch(`${front.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }] }),
    })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/^Invalid image data in messages\[0\]\.content\[0\]/)
  })

  it("forwards tools and tool messages, and relays the upstream's calls and logprobs, streamed and not", async () => {
    const tool = {
      type: 'function',
      function: {
        name: 'pick',
        parameters: { type: 'object', properties: { colour: { type: 'string', enum: ['red', 'blue'] } }, required: ['colour'], additionalProperties: false },
      },
    }
    const request = {
      messages: [
        { role: 'user', content: 'Pick a colour.' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'pick', arguments: '{"colour":"red"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'red is taken' },
      ],
      tools: [tool],
      tool_choice: 'required',
      max_tokens: 60,
      seed: 5,
    }
    const post = (extra: Record<string, unknown> = {}) =>
      fetch(`${front.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
        body: JSON.stringify({ ...request, ...extra }),
      })
    const whole = (await (await post()).json()) as {
      choices: Array<{ finish_reason: string; message: { tool_calls: Array<{ id: string; function: { name: string; arguments: string } }> } }>
    }
    expect(whole.choices[0]!.finish_reason).toBe('tool_calls')
    expect(whole.choices[0]!.message.tool_calls[0]!.function.name).toBe('pick')
    expect(['red', 'blue']).toContain((JSON.parse(whole.choices[0]!.message.tool_calls[0]!.function.arguments) as { colour: string }).colour)
    const streamed = await (await post({ stream: true })).text()
    const deltas = streamed
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ delta: { tool_calls?: Array<{ function: { arguments?: string } }> }; finish_reason: string | null }> })
    const args = deltas
      .flatMap((c) => c.choices[0]?.delta.tool_calls ?? [])
      .map((d) => d.function.arguments ?? '')
      .join('')
    expect(JSON.parse(args)).toMatchObject({ colour: expect.stringMatching(/^(red|blue)$/) })
    expect(deltas.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls')

    const scored = (await (await post({ tools: undefined, tool_choice: undefined, messages: [request.messages[0]], logprobs: true, top_logprobs: 1, max_tokens: 3 })).json()) as {
      choices: Array<{ logprobs: { content: Array<{ token: string; top_logprobs: unknown[] }> } }>
    }
    expect(scored.choices[0]!.logprobs.content.length).toBeGreaterThan(0)
    expect(scored.choices[0]!.logprobs.content[0]!.top_logprobs).toHaveLength(1)
  })
})
