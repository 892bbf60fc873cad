/**
 * `visto batch … --server`: the same folder and question, submitted once as a server-side
 * batch (OpenAI's Files and Batch API), with progress while the server works through it.
 * The batch id is kept next to the results file, so re-running the command after an
 * interruption attaches to the same batch instead of submitting again.
 */
import { openAsBlob } from 'node:fs'
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { samplingParams, userContent, type SamplingOptions } from '@visto/sdk'
import type { BatchInput } from '../batch-inputs.js'
import { CliError, ExitCode } from '../cli-error.js'
import type { ProgressReporter } from '../progress.js'
import type { ResultRecord } from '../results-file.js'

export interface ServerBatchOptions {
  /** Items this run still needs (not yet in the results file). */
  pending: BatchInput[]
  skipped: number
  question: string
  system?: string | undefined
  /** For PDFs: which pages ("1-3,7"); undefined: all. */
  pages?: string | undefined
  sampling: SamplingOptions
  model: string
  baseURL: string
  apiKey?: string | undefined
  outputPath: string
  emit: (record: ResultRecord) => void
  progress: ProgressReporter
  signal: AbortSignal
  log: (line: string) => void
  pollMs?: number
}

interface BatchObject {
  id: string
  status: string
  output_file_id: string | null
  error_file_id: string | null
  request_counts: { total: number; completed: number; failed: number }
  errors: { data: Array<{ line: number | null; message: string }> } | null
}

interface SavedBatch {
  batch_id: string
  base_url: string
  question: string
}

const ended = new Set(['completed', 'failed', 'cancelled', 'expired'])

/** Where the batch id is kept between runs: beside the results file. */
export function stateFile(outputPath: string): string {
  return `${outputPath}.server-batch.json`
}

class Api {
  constructor(
    private readonly baseURL: string,
    private readonly apiKey: string | undefined,
  ) {}

  async call<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.raw(path, init)
    return (await response.json()) as T
  }

  async raw(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    if (this.apiKey) headers.set('authorization', `Bearer ${this.apiKey}`)
    let response: Response
    try {
      response = await fetch(`${this.baseURL}${path}`, { ...init, headers })
    } catch (error) {
      throw new CliError(`cannot reach the server at ${this.baseURL}: ${(error as Error).message}; is it running?`, ExitCode.Unreachable)
    }
    if (!response.ok) {
      const text = await response.text()
      let message = text.slice(0, 300)
      try {
        message = (JSON.parse(text) as { error: { message: string } }).error.message
      } catch {
        // Not our envelope: show the start of the body.
      }
      const error = new CliError(`${init.method ?? 'GET'} ${path}: ${response.status} ${message}`, ExitCode.Failure)
      ;(error as CliError & { status?: number }).status = response.status
      throw error
    }
    return response
  }
}

async function loadSaved(path: string): Promise<SavedBatch | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as SavedBatch
  } catch {
    return undefined
  }
}

/** Writes the requests to a private temporary JSONL file (images inline), then uploads it and creates the batch. */
async function submit(api: Api, options: ServerBatchOptions): Promise<BatchObject> {
  const dir = await mkdtemp(join(tmpdir(), 'visto-batch-'))
  const path = join(dir, 'requests.jsonl')
  try {
    const handle = await open(path, 'w', 0o600)
    try {
      for (const input of options.pending) {
        const messages = [
          ...(options.system ? [{ role: 'system' as const, content: options.system }] : []),
          { role: 'user' as const, content: await userContent(options.question, input.path, options.pages ? { pages: options.pages } : {}) },
        ]
        const body = { model: options.model, ...samplingParams(options.sampling), messages }
        await handle.write(`${JSON.stringify({ custom_id: input.file, method: 'POST', url: '/v1/chat/completions', body })}\n`)
      }
    } finally {
      await handle.close()
    }
    const form = new FormData()
    form.append('purpose', 'batch')
    form.append('file', await openAsBlob(path), 'visto-batch.jsonl')
    const file = await api.call<{ id: string }>('/files', { method: 'POST', body: form })
    return await api.call<BatchObject>('/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { source: 'visto batch' } }),
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

interface BatchErrorBody {
  type?: string
  code?: string
  message?: string
}

/** One line of a batch's output or error file, as far as a result record reads it. */
interface BatchResultLine {
  custom_id?: unknown
  response?: {
    status_code: number
    request_id?: string
    body: {
      choices?: Array<{ message?: { content?: string | null }; finish_reason?: string | null }>
      usage?: { prompt_tokens?: number; completion_tokens?: number }
      model?: string
      error?: BatchErrorBody
    }
  } | null
  error?: BatchErrorBody | null
}

function toRecord(line: BatchResultLine, question: string): ResultRecord {
  const response = line.response
  const base = { file: String(line.custom_id), question, latency_ms: null, cached: false }
  if (response && response.status_code === 200) {
    const choice = response.body.choices?.[0]
    return {
      ...base,
      ok: true,
      answer: choice?.message?.content ?? '',
      finish_reason: choice?.finish_reason ?? null,
      prompt_tokens: response.body.usage?.prompt_tokens ?? null,
      completion_tokens: response.body.usage?.completion_tokens ?? null,
      model: response.body.model ?? null,
      request_id: response.request_id ?? null,
      error_type: null,
      status: null,
      error: null,
    }
  }
  const error = response?.body?.error ?? line.error ?? {}
  return {
    ...base,
    ok: false,
    answer: null,
    finish_reason: null,
    prompt_tokens: null,
    completion_tokens: null,
    model: null,
    request_id: response?.request_id ?? null,
    error_type: error.type ?? error.code ?? 'batch_error',
    status: response?.status_code ?? null,
    error: error.message ?? 'failed',
  }
}

/** Runs (or re-attaches to) the server-side batch; resolves once its results are written, or when interrupted. */
export async function runServerBatch(options: ServerBatchOptions): Promise<{ ok: number; failed: number; interrupted: boolean }> {
  const api = new Api(options.baseURL, options.apiKey)
  const statePath = stateFile(options.outputPath)
  const saved = await loadSaved(statePath)
  let batch: BatchObject | undefined
  if (saved && saved.question === options.question) {
    batch = await api.call<BatchObject>(`/batches/${encodeURIComponent(saved.batch_id)}`).catch((error: unknown) => {
      if ((error as { status?: number }).status === 404) return undefined
      throw error
    })
    if (batch) options.log(`visto batch: attaching to server batch ${batch.id} (${batch.status})`)
  }
  if (!batch) {
    if (options.pending.length === 0) return { ok: 0, failed: 0, interrupted: false }
    batch = await submit(api, options)
    await writeFile(statePath, `${JSON.stringify({ batch_id: batch.id, base_url: options.baseURL, question: options.question } satisfies SavedBatch)}\n`, {
      mode: 0o600,
      flush: true,
    })
    options.log(`visto batch: submitted server batch ${batch.id} (${options.pending.length} requests); Ctrl-C leaves it running, re-run to attach`)
  }

  const started = performance.now()
  let firstDone: number | undefined
  while (!ended.has(batch.status)) {
    if (options.signal.aborted) {
      options.log(`visto batch: server batch ${batch.id} keeps running; run the same command again to collect its results`)
      return { ok: 0, failed: 0, interrupted: true }
    }
    const counts = batch.request_counts
    const done = counts.completed + counts.failed
    firstDone ??= done
    const elapsed = (performance.now() - started) / 1000
    const rate = elapsed > 0 ? (done - firstDone) / elapsed : 0
    options.progress.update({
      total: counts.total || options.pending.length,
      completed: done,
      failed: counts.failed,
      skipped: options.skipped,
      ratePerSecond: rate,
      etaMs: rate > 0 ? ((counts.total - done) / rate) * 1000 : undefined,
    })
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, options.pollMs ?? 1000)
      options.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer)
          resolve(undefined)
        },
        { once: true },
      )
    })
    batch = await api.call<BatchObject>(`/batches/${encodeURIComponent(batch.id)}`)
  }

  if (batch.status === 'failed') {
    await rm(statePath, { force: true })
    const reasons = (batch.errors?.data ?? []).slice(0, 5).map((e) => `  ${e.message}`)
    throw new CliError(`server batch ${batch.id} failed validation:\n${reasons.join('\n')}`, ExitCode.Failure)
  }
  const wanted = new Set(options.pending.map((input) => input.file))
  const totals = { ok: 0, failed: 0 }
  for (const fileId of [batch.output_file_id, batch.error_file_id]) {
    if (!fileId) continue
    const response = await api.raw(`/files/${encodeURIComponent(fileId)}/content`)
    const decoder = new TextDecoder()
    let carry = ''
    const take = (text: string) => {
      if (text.trim() === '') return
      const record = toRecord(JSON.parse(text) as BatchResultLine, options.question)
      if (!wanted.delete(record.file)) return
      options.emit(record)
      if (record.ok) totals.ok++
      else totals.failed++
    }
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      carry += decoder.decode(chunk, { stream: true })
      const lines = carry.split('\n')
      carry = lines.pop()!
      for (const line of lines) take(line)
    }
    take(carry + decoder.decode())
  }
  options.progress.update({ total: batch.request_counts.total, completed: batch.request_counts.total, failed: totals.failed, skipped: options.skipped, ratePerSecond: 0, etaMs: 0 })
  await rm(statePath, { force: true })
  return { ...totals, interrupted: false }
}
