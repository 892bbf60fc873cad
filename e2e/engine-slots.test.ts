import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
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

async function ask(text: string): Promise<number> {
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: text }], max_tokens: 4, temperature: 0 }),
  })
  await response.text()
  return response.status
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
    let from = engineLog.length
    for (const text of ['First question?', 'A second, different one.', 'And a third.']) expect(await ask(text)).toBe(200)
    // llama-server's own choice starts on the last slot (all unused, ties go to the highest id) and stays there by prompt similarity: 3, 3, 3.
    expect(slotsLaunched(from)).toEqual([0, 0, 0])

    from = engineLog.length
    expect(await Promise.all(['One of two.', 'Two of two.'].map(ask))).toEqual([200, 200])
    expect(slotsLaunched(from).sort()).toEqual([0, 1])
    expect(engineLog.slice(from).some((line) => line.includes('selected slot by id'))).toBe(true)
  }, 60_000)
})
