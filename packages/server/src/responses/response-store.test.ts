import { statSync } from 'node:fs'
import { join } from 'node:path'
import type { ResponsesResponse } from '@visto/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { openDataDir, type DataDir } from '../data-dir.js'
import { freshDataDir } from '../../../../test-support/data-dir.js'
import { ResponseStore } from './response-store.js'

let dataDir: DataDir | undefined
afterEach(() => {
  dataDir?.close()
  dataDir = undefined
})

function response(id: string, previous: string | null, text: string): ResponsesResponse {
  return {
    id,
    object: 'response',
    created_at: 1,
    status: 'completed',
    completed_at: 1,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model: 'm',
    output: [{ type: 'message', id: `msg_${id}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] }],
    parallel_tool_calls: true,
    previous_response_id: previous,
    store: true,
    temperature: null,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: null,
    truncation: 'disabled',
    usage: null,
    metadata: {},
    user: null,
  }
}

const input = (text: string) => [
  { type: 'message' as const, id: `msg_in_${text.length}`, role: 'user' as const, status: 'completed' as const, content: [{ type: 'input_text' as const, text }] },
]

describe('ResponseStore', () => {
  it('keeps responses in the data directory database (0600 in a 0700 folder) and reads them back whole', async () => {
    const dir = freshDataDir()
    dataDir = await openDataDir(dir)
    const store = new ResponseStore(dataDir.db, { retentionSeconds: 60, maxBytes: 1_000_000, clock: () => 100 })
    store.insert({ response: response('resp_a', null, 'Hello'), inputItems: input('Hi'), chain: [] })
    expect(store.get('resp_a')).toEqual({
      id: 'resp_a',
      previousResponseId: null,
      createdAt: 1,
      expiresAt: 160,
      response: response('resp_a', null, 'Hello'),
      inputItems: input('Hi'),
    })
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dir, 'batches.sqlite')).mode & 0o777).toBe(0o600)
  })

  it('deletes the oldest responses once all together are over the size limit, never the one just stored', async () => {
    dataDir = await openDataDir(freshDataDir())
    const big = 'x'.repeat(4000)
    const store = new ResponseStore(dataDir.db, { retentionSeconds: 60, maxBytes: 10_000, clock: () => 100 })
    for (const id of ['resp_1', 'resp_2', 'resp_3']) store.insert({ response: response(id, null, 'ok'), inputItems: input(big), chain: [] })
    expect(['resp_1', 'resp_2', 'resp_3'].map((id) => store.get(id) !== undefined)).toEqual([false, true, true])
    expect(store.totalBytes()).toBeLessThanOrEqual(10_000)
    store.insert({ response: response('resp_huge', null, 'ok'), inputItems: input('y'.repeat(20_000)), chain: [] })
    expect(['resp_2', 'resp_3', 'resp_huge'].map((id) => store.get(id) !== undefined)).toEqual([false, false, true])
  })

  it('keeps its count of stored bytes equal to the table through inserts, evictions, deletes, expiry and a reopen', async () => {
    dataDir = await openDataDir(freshDataDir())
    let now = 100
    const store = new ResponseStore(dataDir.db, { retentionSeconds: 60, maxBytes: 12_000, clock: () => now })
    const summed = () => dataDir!.db.prepare('SELECT COALESCE(SUM(bytes), 0) FROM responses').pluck().get() as number
    for (let i = 0; i < 8; i++) {
      store.insert({ response: response(`resp_${i}`, null, 'ok'), inputItems: input('z'.repeat(1000 * (i + 1))), chain: [] })
      expect(store.totalBytes()).toBe(summed())
    }
    expect(store.delete('resp_7')).toBe(true)
    expect(store.delete('resp_7')).toBe(false)
    expect(store.totalBytes()).toBe(summed())
    store.insert({ response: response('resp_small', null, 'ok'), inputItems: input('s'), chain: [] })
    now = 1000
    store.insert({ response: response('resp_new', null, 'ok'), inputItems: input('n'), chain: [] })
    expect(store.deleteExpired()).toBe(1)
    expect(store.totalBytes()).toBe(summed())
    expect(new ResponseStore(dataDir.db, { retentionSeconds: 60, maxBytes: 12_000, clock: () => now }).totalBytes()).toBe(summed())
  })

  it('renews the whole conversation a new response continues, and sweeps what has expired', async () => {
    dataDir = await openDataDir(freshDataDir())
    let now = 100
    const store = new ResponseStore(dataDir.db, { retentionSeconds: 60, maxBytes: 1_000_000, clock: () => now })
    store.insert({ response: response('resp_a', null, 'one'), inputItems: input('a'), chain: [] })
    store.insert({ response: response('resp_other', null, 'two'), inputItems: input('b'), chain: [] })
    now = 150
    store.insert({ response: response('resp_b', 'resp_a', 'three'), inputItems: input('c'), chain: ['resp_a'] })
    now = 170
    expect(store.deleteExpired()).toBe(1)
    expect(store.get('resp_other')).toBeUndefined()
    expect(store.get('resp_a')?.expiresAt).toBe(210)
    now = 210
    expect(store.get('resp_b')).toBeUndefined()
    expect(store.delete('resp_b')).toBe(true)
    expect(store.delete('resp_b')).toBe(false)
  })
})
