import { existsSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import OpenAI, { toFile } from 'openai'
import { afterEach, describe, expect, it } from 'vitest'
import { endless, ScriptedEngine, words, type Script } from '../../../../test-support/scripted-engine.js'
import { parsePrometheusText, sample } from '../../../../test-support/prometheus-text.js'
import { fileLines, requestLine, startBatchHarness, waitForBatch, type BatchHarness, type HarnessOptions } from '../../../../test-support/batch-harness.js'
import { closeApp } from '../../../../test-support/close-app.js'

const harnesses: BatchHarness[] = []
afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.close({ removeData: true })
})

async function start(options: HarnessOptions = {}): Promise<BatchHarness> {
  const harness = await startBatchHarness(options)
  harnesses.push(harness)
  return harness
}

async function upload(client: OpenAI, lines: string[] | string, name = 'requests.jsonl') {
  const text = Array.isArray(lines) ? `${lines.join('\n')}\n` : lines
  return client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' })
}

async function submit(client: OpenAI, lines: string[] | string) {
  const file = await upload(client, lines)
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
}

/** Lines whose prompt contains "slow" generate until aborted; the rest answer at once. */
const slowWhenAsked: Script = async function* (request, signal) {
  const prompt = JSON.stringify(request.messages)
  if (prompt.includes('slow')) yield* endless(10)(request, signal)
  else yield* words(['Hello', ' world'])(request, signal)
}

describe('Files and Batch API with the official openai client', () => {
  it('uploads a file, runs a batch to completion and returns the output file in OpenAI format', async () => {
    const { client } = await start()
    const file = await upload(client, [requestLine('a'), requestLine('b'), requestLine('c')])
    expect(file).toEqual({
      id: expect.stringMatching(/^file-[0-9a-f]{24}$/),
      object: 'file',
      bytes: expect.any(Number),
      created_at: expect.any(Number),
      expires_at: null,
      filename: 'requests.jsonl',
      purpose: 'batch',
      status: 'processed',
      status_details: null,
    })
    expect(await client.files.retrieve(file.id)).toEqual(file)

    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'photos' } })
    expect(created).toMatchObject({
      id: expect.stringMatching(/^batch_/),
      object: 'batch',
      endpoint: '/v1/chat/completions',
      input_file_id: file.id,
      completion_window: '24h',
      status: 'validating',
      errors: null,
      output_file_id: null,
      error_file_id: null,
      metadata: { job: 'photos' },
      expires_at: created.created_at + 24 * 3600,
    })

    const batch = await waitForBatch(client, created.id)
    expect(batch.status).toBe('completed')
    expect(batch.request_counts).toEqual({ total: 3, completed: 3, failed: 0 })
    expect(batch.usage).toMatchObject({ input_tokens: 60, output_tokens: 6, total_tokens: 66 })
    for (const stamp of ['in_progress_at', 'finalizing_at', 'completed_at'] as const) expect(batch[stamp]).toEqual(expect.any(Number))
    expect(batch.error_file_id).toBeNull()

    const output = await fileLines(client, batch.output_file_id)
    expect(output.map((line) => line.custom_id)).toEqual(['a', 'b', 'c'])
    for (const line of output) {
      expect(line).toEqual({
        id: expect.stringMatching(/^batch_req_/),
        custom_id: expect.any(String),
        response: {
          status_code: 200,
          request_id: expect.stringMatching(/^req_/),
          body: expect.objectContaining({
            object: 'chat.completion',
            model: 'qwen3-vl-4b-instruct',
            choices: [expect.objectContaining({ message: expect.objectContaining({ content: 'Hello world' }) })],
          }),
        },
        error: null,
      })
    }
    const outputFile = await client.files.retrieve(batch.output_file_id!)
    expect(outputFile).toMatchObject({ purpose: 'batch_output', filename: `${batch.id}_output.jsonl`, expires_at: expect.any(Number) })
    expect(outputFile.bytes).toBe(Buffer.byteLength(await (await client.files.content(outputFile.id)).text()))

    const list = await client.batches.list({ limit: 10 })
    expect(list.data.map((b) => b.id)).toEqual([batch.id])
    const files = await client.files.list()
    expect(files.data.map((f) => f.id).sort()).toEqual([file.id, batch.output_file_id].sort())
  })

  it('pages batches newest first with after and limit', async () => {
    const { client } = await start()
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await submit(client, [requestLine(`x${i}`)])).id)
    const first = await client.batches.list({ limit: 2 })
    expect(first.data.map((b) => b.id)).toEqual([ids[2], ids[1]])
    expect(first.has_more).toBe(true)
    const second = await client.batches.list({ limit: 2, after: ids[1]! })
    expect(second.data.map((b) => b.id)).toEqual([ids[0]])
    expect(second.has_more).toBe(false)
    const all: string[] = []
    for await (const batch of client.batches.list({ limit: 1 })) all.push(batch.id)
    expect(all).toEqual([...ids].reverse())
  })

  it('puts a line that fails on its own in the error file with the interactive error body, and goes on', async () => {
    const { client } = await start()
    const created = await submit(client, [
      requestLine('ok-1'),
      requestLine('bad-model', 'hi', { model: 'gpt-4o' }),
      requestLine('bad-param', 'hi', { temperature: 5 }),
      requestLine('ok-2'),
    ])
    const batch = await waitForBatch(client, created.id)
    expect(batch.status).toBe('completed')
    expect(batch.request_counts).toEqual({ total: 4, completed: 2, failed: 2 })
    expect((await fileLines(client, batch.output_file_id)).map((l) => l.custom_id)).toEqual(['ok-1', 'ok-2'])
    const errors = await fileLines(client, batch.error_file_id)
    expect(errors.map((l) => l.custom_id)).toEqual(['bad-model', 'bad-param'])
    expect(errors[0]!.response).toEqual({
      status_code: 404,
      request_id: expect.stringMatching(/^req_/),
      body: { error: { message: 'The model "gpt-4o" does not exist. Available models: qwen3-vl-4b-instruct', type: 'not_found_error', param: 'model', code: 'model_not_found' } },
    })
    expect(errors[1]!.response!.status_code).toBe(400)
    expect(errors[1]!.response!.body.error).toMatchObject({ type: 'invalid_request_error', param: 'temperature' })
    expect(errors[1]!.error).toBeNull()
  })

  it('fails a malformed input file at validation, naming every bad line', async () => {
    const { client } = await start()
    const lines = [
      requestLine('good'),
      '{"custom_id": "broken", "method": "POST",',
      JSON.stringify({ custom_id: 'get', method: 'GET', url: '/v1/chat/completions', body: {} }),
      JSON.stringify({ custom_id: 'url', method: 'POST', url: '/v1/embeddings', body: {} }),
      JSON.stringify({ custom_id: 'nobody', method: 'POST', url: '/v1/chat/completions' }),
      requestLine('good'),
      JSON.stringify({ method: 'POST', url: '/v1/chat/completions', body: {} }),
      '',
      '[1, 2]',
      JSON.stringify({ custom_id: 'strbody', method: 'POST', url: '/v1/chat/completions', body: 'hello' }),
    ]
    const batch = await waitForBatch(client, (await submit(client, lines)).id)
    expect(batch.status).toBe('failed')
    expect(batch.failed_at).toEqual(expect.any(Number))
    expect(batch.output_file_id).toBeNull()
    const errors = batch.errors!.data!
    expect(errors.map((e) => [e.line, e.code, e.param])).toEqual([
      [2, 'invalid_json_line', null],
      [3, 'invalid_method', 'method'],
      [4, 'mismatched_url', 'url'],
      [5, 'missing_required_parameter', 'body'],
      [6, 'duplicate_custom_id', 'custom_id'],
      [7, 'missing_required_parameter', 'custom_id'],
      [9, 'invalid_json_line', null],
      [10, 'invalid_body', 'body'],
    ])
    expect(errors[1]!.message).toBe('Line 3: method must be "POST", got "GET"')
    expect(errors[4]!.message).toBe('Line 6: custom_id "good" is already used on line 1; each request needs its own')
    expect(batch.errors!.object).toBe('list')
  })

  it('refuses a line nested deeper than --max-json-depth before parsing it, naming the line and the limit', async () => {
    const { client, app } = await start()
    const deep = JSON.stringify({ custom_id: 'deep', method: 'POST', url: '/v1/chat/completions', body: { messages: [] } }).replace(
      '[]',
      `${'['.repeat(200_000)}${']'.repeat(200_000)}`,
    )
    const batch = await waitForBatch(client, (await submit(client, [requestLine('good'), deep, requestLine('also-good')])).id)
    expect(batch.status).toBe('failed')
    expect(batch.errors!.data).toEqual([
      {
        code: 'json_too_deep',
        message: 'Line 2: nests objects and arrays deeper than 64 levels (at character 146); the limit is --max-json-depth',
        param: null,
        line: 2,
      },
    ])
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200)
  })

  it('fails an empty file and one with more lines than --batch-max-lines', async () => {
    const { client } = await start({ maxLines: 2 })
    const empty = await waitForBatch(client, (await submit(client, '\n\n')).id)
    expect(empty.errors!.data).toEqual([{ code: 'empty_file', message: 'The input file has no requests; each line must be one JSON request object', param: null, line: null }])
    const tooMany = await waitForBatch(client, (await submit(client, [requestLine('1'), requestLine('2'), requestLine('3')])).id)
    expect(tooMany.status).toBe('failed')
    expect(tooMany.errors!.data![0]).toMatchObject({ code: 'too_many_requests', line: 3 })
    expect(tooMany.errors!.data![0]!.message).toContain('more than 2 requests')
  })

  it('rejects bad uploads and batch parameters with OpenAI errors', async () => {
    const { client, baseURL } = await start({ maxFileBytes: 1000, diskBytes: 1500 })
    await expect(upload(client, 'x'.repeat(1001))).rejects.toMatchObject({
      status: 413,
      error: { code: 'file_too_large', message: 'File too large: the limit is 0.00 MiB (--batch-max-file-mb)' },
    })
    await expect(client.files.create({ file: await toFile(Buffer.from('{}'), 'a.jsonl'), purpose: 'fine-tune' })).rejects.toMatchObject({
      status: 400,
      error: { param: 'purpose', message: 'purpose must be "batch" or "user_data", got "fine-tune"' },
    })
    await upload(client, 'x'.repeat(900))
    await expect(upload(client, 'x'.repeat(700))).rejects.toMatchObject({ status: 413, error: { code: 'storage_full' } })
    const file = await upload(client, [requestLine('a')])
    await expect(client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' })).rejects.toMatchObject({
      status: 400,
      error: { param: 'endpoint', message: 'endpoint must be one of /v1/chat/completions, got "/v1/embeddings"' },
    })
    await expect(client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '48h' as '24h' })).rejects.toMatchObject({
      status: 400,
      error: { param: 'completion_window' },
    })
    await expect(client.batches.create({ input_file_id: 'file-000000000000000000000000', endpoint: '/v1/chat/completions', completion_window: '24h' })).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    )
    await expect(client.batches.retrieve('batch_nope')).rejects.toMatchObject({ status: 404, error: { message: 'No such Batch object: batch_nope', type: 'not_found_error' } })
    await expect(client.files.content('file-nope')).rejects.toMatchObject({ status: 404, error: { message: 'No such File object: file-nope' } })
    const notMultipart = await fetch(`${baseURL}/files`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(notMultipart.status).toBe(400)
    expect((await notMultipart.json()).error.code).toBe('invalid_content_type')
  })

  it('streams uploads larger than the JSON body limit to disk (only the batch file limit applies)', async () => {
    const { client, dataDir } = await start({ maxFileBytes: 8 * 1024 * 1024 })
    const line = requestLine('big', 'x'.repeat(3 * 1024 * 1024))
    const file = await upload(client, [line])
    expect(file.bytes).toBe(Buffer.byteLength(line) + 1)
    expect((await stat(join(dataDir, 'files', file.id))).size).toBe(file.bytes)
  })

  it('deletes files, but not the input of a batch still running', async () => {
    const engine = new ScriptedEngine(slowWhenAsked)
    const { client, dataDir } = await start({ engine })
    const created = await submit(client, [requestLine('s', 'slow')])
    await expect(client.files.delete(created.input_file_id)).rejects.toMatchObject({ status: 400, error: { code: 'file_in_use' } })
    await client.batches.cancel(created.id)
    await waitForBatch(client, created.id)
    expect(await client.files.delete(created.input_file_id)).toEqual({ id: created.input_file_id, object: 'file', deleted: true })
    expect(existsSync(join(dataDir, 'files', created.input_file_id))).toBe(false)
    await expect(client.files.retrieve(created.input_file_id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })

  it('cancels while lines are in flight: finished lines in the output, the rest once each in the error file', async () => {
    const engine = new ScriptedEngine(slowWhenAsked)
    const { client } = await start({ engine, concurrency: 2 })
    const created = await submit(client, [requestLine('fast-1'), requestLine('fast-2'), requestLine('slow-1', 'slow'), requestLine('slow-2', 'slow'), requestLine('later', 'slow')])
    await waitForBatch(client, created.id, (b) => b.request_counts!.completed === 2)
    await expect.poll(() => engine.requests.length).toBe(4)
    const cancelling = await client.batches.cancel(created.id)
    expect(cancelling.status).toBe('cancelling')
    expect(cancelling.cancelling_at).toEqual(expect.any(Number))
    const batch = await waitForBatch(client, created.id)
    expect(batch.status).toBe('cancelled')
    expect(batch.cancelled_at).toEqual(expect.any(Number))
    expect(engine.aborted).toBe(2)
    expect(engine.requests).toHaveLength(4)
    expect((await fileLines(client, batch.output_file_id)).map((l) => l.custom_id)).toEqual(['fast-1', 'fast-2'])
    const errors = await fileLines(client, batch.error_file_id)
    expect(errors.map((l) => l.custom_id)).toEqual(['slow-1', 'slow-2', 'later'])
    expect(errors[0]).toEqual({
      id: expect.stringMatching(/^batch_req_/),
      custom_id: 'slow-1',
      response: null,
      error: { code: 'batch_cancelled', message: 'The batch was cancelled before this request ran.' },
    })
    // Cancelling again is harmless; a finished batch cannot be cancelled.
    expect((await client.batches.cancel(created.id)).status).toBe('cancelled')
    const done = await waitForBatch(client, (await submit(client, [requestLine('z')])).id)
    await expect(client.batches.cancel(done.id)).rejects.toMatchObject({ status: 400, error: { code: 'batch_not_cancellable' } })
  })

  it('resumes an unfinished batch after a restart on the same data directory, each line once', async () => {
    const engine = new ScriptedEngine(slowWhenAsked)
    const first = await startBatchHarness({ engine })
    const created = await submit(first.client, [requestLine('a'), requestLine('b', 'slow'), requestLine('c', 'slow'), requestLine('d')])
    await expect.poll(() => engine.requests.length).toBeGreaterThanOrEqual(3)
    await first.close()
    const second = await start({ dataDir: first.dataDir })
    const batch = await waitForBatch(second.client, created.id)
    expect(batch.status).toBe('completed')
    expect(batch.request_counts).toEqual({ total: 4, completed: 4, failed: 0 })
    expect((await fileLines(second.client, batch.output_file_id)).map((l) => l.custom_id)).toEqual(['a', 'b', 'c', 'd'])
  })

  it('expires a batch past its completion window and cleans up ended batches after retention (injected clock)', async () => {
    let now = 1_800_000_000
    const engine = new ScriptedEngine(slowWhenAsked)
    const { client, batches, dataDir } = await start({ engine, clock: () => now, retentionSeconds: 3600, concurrency: 1 })
    const created = await submit(client, [requestLine('done'), requestLine('stuck', 'slow'), requestLine('never')])
    await expect.poll(() => engine.requests.length).toBe(2)
    now += 24 * 3600 + 1
    batches.runner.housekeeping()
    const batch = await waitForBatch(client, created.id)
    expect(batch.status).toBe('expired')
    expect(batch.expired_at).toBe(now)
    expect((await fileLines(client, batch.output_file_id)).map((l) => l.custom_id)).toEqual(['done'])
    const errors = await fileLines(client, batch.error_file_id)
    expect(errors.map((l) => [l.custom_id, l.error!.code])).toEqual([
      ['stuck', 'batch_expired'],
      ['never', 'batch_expired'],
    ])
    expect(errors[0]!.error!.message).toBe('This request could not be executed before the completion window expired.')

    now += 3599
    batches.runner.housekeeping()
    await batches.runner.cleanup()
    expect((await client.batches.retrieve(created.id)).status).toBe('expired')
    now += 1
    await batches.runner.cleanup()
    await expect(client.batches.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    await expect(client.files.retrieve(batch.output_file_id!)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    const left = await readdir(join(dataDir, 'files'))
    expect(left).toEqual([created.input_file_id])
  })

  it('shows batch progress in /metrics', async () => {
    const { client, app } = await start()
    const scrape = async () => parsePrometheusText((await app.inject({ method: 'GET', url: '/metrics' })).body)
    await waitForBatch(client, (await submit(client, [requestLine('a'), requestLine('b')])).id)
    const after = await scrape()
    expect(sample(after, 'visto_batches', { status: 'completed' })).toBe(1)
    expect(sample(after, 'visto_batches', { status: 'in_progress' })).toBe(0)
    expect(sample(after, 'visto_batch_lines', { state: 'pending' })).toBe(0)
  })

  it('keeps its files private: data directory 0700, files 0600', async () => {
    const { client, dataDir } = await start()
    const batch = await waitForBatch(client, (await submit(client, [requestLine('a')])).id)
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700)
    expect((await stat(join(dataDir, 'files'))).mode & 0o777).toBe(0o700)
    expect((await stat(join(dataDir, 'batches.sqlite'))).mode & 0o777).toBe(0o600)
    for (const id of [batch.input_file_id, batch.output_file_id!]) expect((await stat(join(dataDir, 'files', id))).mode & 0o777).toBe(0o600)
  })
})

describe('a server without its own data directory', () => {
  it('answers the batch routes with a clear 503 instead of a 404', async () => {
    const { composeServer } = await import('../compose.js')
    const { serveConfig } = await import('../config.js')
    // Composed without a data directory, as when another server holds it.
    const { app } = await composeServer(serveConfig(), { engine: new ScriptedEngine() })
    try {
      for (const [method, url] of [
        ['GET', '/v1/batches'],
        ['POST', '/v1/files'],
        ['GET', '/v1/files/file-1/content'],
        ['POST', '/v1/batches/batch_1/cancel'],
      ] as const) {
        const response = await app.inject({ method, url })
        expect(response.statusCode).toBe(503)
        expect(response.json()).toEqual({
          error: {
            message: 'Batches are off on this server: another Visto server uses its data directory (--data-dir).',
            type: 'service_unavailable_error',
            param: null,
            code: 'batches_unavailable',
          },
        })
      }
    } finally {
      await closeApp(app)
    }
  })
})
