import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { startTinyServer } from '../test-support/in-process-server.js'

// llama-server left to itself takes the least recently used slot, which scatters the busy
// slots and makes its batches attend over the empty ones between them (SlotPicker). Visto
// names the slot: the lowest free one. The engine's own log says which slot ran each task.
let server: RunningServer
const engineLog: string[] = []

beforeAll(async () => {
  server = await startTinyServer(['--parallel', '4', '--response-cache-mb', '0'], 'printable', { engineLog: (line) => engineLog.push(line) })
})
afterAll(async () => {
  await server?.shutdown()
})

async function chat(messages: unknown[]): Promise<{ status: number; promptTokens: number }> {
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages, max_tokens: 4, temperature: 0 }),
  })
  const body = (await response.json()) as { usage?: { prompt_tokens: number } }
  return { status: response.status, promptTokens: body.usage?.prompt_tokens ?? 0 }
}

async function ask(text: string): Promise<number> {
  return (await chat([{ role: 'user', content: text }])).status
}

/** The prompt tokens llama-server evaluated (not taken from a cache) for the tasks since `from`. */
function promptTokensEvaluated(from: number): number[] {
  return engineLog.slice(from).flatMap((line) => {
    const match = /prompt eval time =\s*[\d.]+ ms \/\s*(\d+) tokens/.exec(line)
    return match ? [Number(match[1])] : []
  })
}

/**
 * Waits until llama-server's log has every task it started end (its `stop processing`
 * line, which follows the task's timings), and at least `tasks` tasks started since
 * `from`. The log reaches Visto through a pipe, after the HTTP answer can: read at once,
 * a task's lines can land after the next request began, and be taken for that one's.
 * Returns where the log ends then.
 */
async function logCaughtUp(from = 0, tasks = 0): Promise<number> {
  const count = (lines: string[], text: string) => lines.filter((line) => line.includes(text)).length
  const deadline = Date.now() + 20_000
  for (;;) {
    const launched = count(engineLog, 'launch_slot_')
    if (count(engineLog.slice(from), 'launch_slot_') >= tasks && count(engineLog, 'stop processing') >= launched) return engineLog.length
    if (Date.now() > deadline) throw new Error(`llama-server's log did not catch up: ${engineLog.slice(-20).join('\n')}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The slots llama-server launched tasks on since `from` (its log index). */
function slotsLaunched(from: number): number[] {
  return engineLog.slice(from).flatMap((line) => {
    const match = /launch_slot_: id\s+(\d+) \| task/.exec(line)
    return match ? [Number(match[1])] : []
  })
}

describe('slot choice on the supervised llama-server', () => {
  it('runs one request after another on slot 0, and concurrent ones on the lowest slots', async () => {
    let from = await logCaughtUp()
    for (const text of ['First question?', 'A second, different one.', 'And a third.']) expect(await ask(text)).toBe(200)
    await logCaughtUp(from, 3)
    // llama-server's own choice starts on the last slot (all unused, ties go to the highest id) and stays there by prompt similarity: 3, 3, 3.
    expect(slotsLaunched(from)).toEqual([0, 0, 0])

    from = await logCaughtUp()
    expect(await Promise.all(['One of two.', 'Two of two.'].map(ask))).toEqual([200, 200])
    await logCaughtUp(from, 2)
    expect(slotsLaunched(from).sort()).toEqual([0, 1])
    expect(engineLog.slice(from).some((line) => line.includes('selected slot by id'))).toBe(true)
  }, 60_000)

  it("reuses a conversation's cached prompt after another conversation took its slot", async () => {
    const photo = dataUrl(await testImage(320, 240))
    const first = [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: photo } },
          { type: 'text', text: 'What is this?' },
        ],
      },
    ]
    const opened = await chat(first)
    expect(opened.status).toBe(200)
    // Another conversation runs on slot 0 in between, so the follow-up finds slot 0 holding it.
    const other = await chat([
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: dataUrl(await testImage(300, 200)) } },
          { type: 'text', text: 'And this?' },
        ],
      },
    ])
    expect(other.status).toBe(200)
    const from = await logCaughtUp()
    const followUp = await chat([...first, { role: 'assistant', content: 'A thing.' }, { role: 'user', content: 'Which colour?' }])
    expect(followUp.status).toBe(200)
    await logCaughtUp(from, 1)
    expect(slotsLaunched(from)).toEqual([0])
    // llama-server brought the first turn back from its host-memory prompt cache: only the new turn was evaluated.
    const [evaluated] = promptTokensEvaluated(from)
    expect(evaluated).toBeLessThanOrEqual(followUp.promptTokens - opened.promptTokens)
    expect(evaluated).toBeGreaterThan(0)
  }, 60_000)
})
