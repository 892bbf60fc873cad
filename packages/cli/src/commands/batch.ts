/**
 * `visto batch DIR|GLOB|LIST… -q QUESTION -o results.jsonl`: a pool of requests (3 in
 * flight by default), made resumable. Results are appended as items finish (completion order, one
 * line each); re-running the same command skips what is already answered.
 */
import { dirname, extname, resolve } from 'node:path'
import { DEFAULT_MODEL_ID } from '@visto/protocol'
import { AbortError, MetricsRecorder, formatSummary, type AskResult, type BatchItem, type BatchResult } from '@visto/sdk'
import { clientFrom, clientOptionsFrom, commonHelp, describeError, isUnreachable, numberFlag, parse } from '../args.js'
import { resolveInputs, type BatchInput } from '../batch-inputs.js'
import { CliError, ExitCode } from '../cli-error.js'
import type { Command } from '../cli.js'
import { DETECT_MAX_TOKENS, detectionRecords, groundingPrompt, imageFileSizes } from '../detections.js'
import { printJson, styler } from '../output.js'
import { pageSelectionFlag } from '../pdf-pages.js'
import { ProgressReporter } from '../progress.js'
import { prepareOutput, recordKey, ResultAppender, serialize, type OutputFormat, type ResultRecord } from '../results-file.js'
import { samplingFrom, samplingHelp, samplingOptions } from '../sampling-flags.js'
import { runServerBatch } from './batch-server.js'

const help = `Usage: visto batch DIR|GLOB|LIST|IMAGE… -q QUESTION [-c 3] [-o results.jsonl] [options]

Asks the same question about many images or PDFs, a few at a time (a PDF is one item:
its pages go in one request). Inputs: a directory (its image and PDF files; -r to
recurse), a quoted glob ('photos/**/*.jpg'), a list file (one path per line, relative to
the list; '-' reads the list from stdin) or image and PDF files.

With -o, every finished item is appended to the file at once; run the same command again
after an interruption and only the missing (or failed) items are asked. Lines are in
completion order; each names its file, relative to the results file's directory (so the
re-run may start from any directory).

Options:
  -q, --question TEXT   the question (required)
  -c, --concurrency N   requests in flight (default 3)
  -o, --output FILE     results file (default: JSON Lines on stdout, no resume)
  --format jsonl|csv    output format (default: from the file extension, else jsonl)
  -r, --recursive       include images in subdirectories
  --pages LIST          for PDFs: only these pages of each, e.g. "1-3,7" (default: all); a PDF
                        without one of them fails with the server's error
  --allow-failures      exit 0 even when some items failed
  --cache               reuse answers from the result cache (~/.cache/visto/results)
  --cache-dir DIR       the result cache directory (implies --cache)
  --progress-interval S seconds between plain progress lines when stderr is not a TTY (default 2)
  --detect              locate -q WHAT in each image with the grounding prompt (as \`visto detect\`)
                        and store each answer's boxes and points, in pixels, as "detections"
                        (JSON Lines only; --max-tokens defaults to 2048)
  --server              submit everything as one batch that the server runs in the background
                        (needs -o; Ctrl-C leaves it running, the same command again attaches to it)
${samplingHelp}

${commonHelp}`

function toRecord(input: BatchInput, question: string, result: BatchResult): ResultRecord {
  if (result.ok) {
    const value: AskResult = result.value
    return {
      file: input.file,
      question,
      ok: true,
      answer: value.text,
      finish_reason: value.finishReason,
      prompt_tokens: value.usage?.prompt_tokens ?? null,
      completion_tokens: value.usage?.completion_tokens ?? null,
      latency_ms: Math.round(value.latencyMs),
      cached: value.cached,
      model: value.model,
      request_id: value.requestId ?? null,
      error_type: null,
      status: null,
      error: null,
    }
  }
  const error = result.error as Error & { status?: number; requestId?: string }
  return {
    file: input.file,
    question,
    ok: false,
    answer: null,
    finish_reason: null,
    prompt_tokens: null,
    completion_tokens: null,
    latency_ms: null,
    cached: false,
    model: null,
    request_id: error.requestId ?? null,
    error_type: error.name,
    status: typeof error.status === 'number' ? error.status : null,
    error: error.message,
  }
}

function formatFor(value: string | undefined, output: string | undefined): OutputFormat {
  if (value !== undefined) {
    if (value !== 'jsonl' && value !== 'csv') throw new CliError(`--format must be jsonl or csv, got "${value}"`, ExitCode.Usage)
    return value
  }
  return output && extname(output).toLowerCase() === '.csv' ? 'csv' : 'jsonl'
}

const command: Command = {
  summary: 'ask one question about many images (resumable, with progress)',
  async run(argv) {
    const { values, positionals } = parse(argv, {
      question: { type: 'string', short: 'q' },
      concurrency: { type: 'string', short: 'c' },
      output: { type: 'string', short: 'o' },
      format: { type: 'string' },
      recursive: { type: 'boolean', short: 'r', default: false },
      'allow-failures': { type: 'boolean', default: false },
      cache: { type: 'boolean', default: false },
      'cache-dir': { type: 'string' },
      'progress-interval': { type: 'string' },
      server: { type: 'boolean', default: false },
      pages: { type: 'string' },
      detect: { type: 'boolean', default: false },
      ...samplingOptions,
    })
    if (values.help) {
      process.stdout.write(`${help}\n`)
      return ExitCode.Ok
    }
    if (values.question === undefined || values.question.trim() === '') throw new CliError('missing -q QUESTION\nRun `visto batch --help` for usage.', ExitCode.Usage)
    // The prompt actually sent names the records, so a plain run with the same -q is not taken for done.
    const question = values.detect ? groundingPrompt(values.question) : values.question
    if (positionals.length === 0) throw new CliError('missing inputs: give a directory, a glob, a list file or images', ExitCode.Usage)
    const concurrency = numberFlag(values.concurrency, 'concurrency', { min: 1, max: 256, integer: true }) ?? 3
    const intervalS = numberFlag(values['progress-interval'], 'progress-interval', { min: 0 }) ?? 2
    const format = formatFor(values.format, values.output)
    if (values.detect && format === 'csv') throw new CliError('--detect writes JSON Lines (boxes and points are lists): use -o FILE.jsonl', ExitCode.Usage)
    const sampling = samplingFrom(values)
    // Lists of boxes run long (about 25 tokens each), as in `visto detect`.
    if (values.detect) sampling.maxTokens ??= DETECT_MAX_TOKENS
    if (values.pages !== undefined) pageSelectionFlag(values.pages)
    const pages = values.pages?.trim() || undefined

    const outputPath = values.output ? resolve(values.output) : undefined
    if (values.server && !outputPath) throw new CliError('--server needs -o FILE: the results file, and the batch id kept beside it for re-attaching', ExitCode.Usage)
    // Named relative to the results file, so a re-run from another directory still recognises them.
    const inputs = await resolveInputs(positionals, { recursive: values.recursive, ...(outputPath ? { relativeTo: dirname(outputPath) } : {}) })
    if (inputs.length === 0) throw new CliError(`no images found in ${positionals.join(' ')}`, ExitCode.Usage)

    const style = styler(process.stderr)
    const log = (line: string) => process.stderr.write(`${line}\n`)
    let pending = inputs
    let skipped = 0
    let appender: ResultAppender | undefined
    if (outputPath) {
      const keys = new Set(inputs.map((input) => recordKey({ file: input.file, question })))
      const prepared = await prepareOutput(outputPath, format, keys).catch((error: unknown) => {
        throw new CliError(`cannot use ${values.output} for results: ${(error as Error).message}`, ExitCode.Failure)
      })
      pending = inputs.filter((input) => !prepared.done.has(recordKey({ file: input.file, question })))
      skipped = inputs.length - pending.length
      if (skipped > 0 || prepared.droppedFailures > 0) {
        const retrying = prepared.droppedFailures > 0 ? `, retrying ${prepared.droppedFailures} that failed` : ''
        log(`visto batch: resuming ${values.output}: ${skipped} of ${inputs.length} already done${retrying}`)
      }
      if (prepared.droppedUnreadable > 0) log(`visto batch: dropped ${prepared.droppedUnreadable} unreadable line(s) from ${values.output}`)
      appender = new ResultAppender(outputPath, format)
    }
    // Read before asking anything: an answer's boxes are mapped onto its image's displayed size.
    const sizes = values.detect ? await imageFileSizes(pending.map((input) => input.path)) : undefined
    const pathOf = new Map(pending.map((input) => [input.file, input.path]))
    let writeError: unknown
    const controller = new AbortController()
    const emit = (answered: ResultRecord) => {
      if (writeError !== undefined) return
      let record = answered
      if (sizes && record.ok) {
        const size = sizes.get(pathOf.get(record.file) ?? '')
        record = { ...record, detections: size ? detectionRecords(record.answer ?? '', size) : null }
      }
      try {
        if (appender) appender.append(record)
        else process.stdout.write(serialize(record, format))
      } catch (error) {
        // A full disk must not become answers that were paid for and then lost: stop.
        writeError = error
        controller.abort()
      }
    }

    const cacheOption = values['cache-dir'] ? values['cache-dir'] : values.cache ? true : undefined
    const client = clientFrom(values, cacheOption === undefined ? {} : { cache: cacheOption })
    const metrics = new MetricsRecorder()
    const progress = new ProgressReporter({ label: 'visto batch', intervalMs: intervalS * 1000 })
    let interrupts = 0
    const onSignal = (signal: NodeJS.Signals) => {
      interrupts++
      if (interrupts > 1) process.exit(130)
      progress.log(`visto batch: ${signal}, stopping; finished items are saved (press Ctrl-C again to quit at once)`)
      controller.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)

    const counts = { ok: 0, failed: 0, cached: 0, unreachable: 0 }
    const items: BatchItem[] = pending.map((input) => ({ images: input.path, question, id: input.file }))
    let interrupted = false
    try {
      if (values.server) {
        const options = clientOptionsFrom(values)
        const outcome = await runServerBatch({
          pending,
          skipped,
          question,
          system: values.system,
          pages,
          sampling,
          model: options.model ?? DEFAULT_MODEL_ID,
          baseURL: client.baseURL,
          apiKey: options.apiKey,
          outputPath: outputPath!,
          emit: (record) => {
            emit(record)
            if (!record.ok) progress.log(`${style.red('✗')} ${record.file}: ${record.error}${record.request_id ? ` (request ${record.request_id})` : ''}`)
          },
          progress,
          signal: controller.signal,
          log: (line) => progress.log(line),
        })
        counts.ok += outcome.ok
        counts.failed += outcome.failed
        interrupted = outcome.interrupted
      } else if (pending.length > 0) {
        progress.update({ total: pending.length, completed: 0, failed: 0, skipped, ratePerSecond: 0, etaMs: undefined })
        await client.batch(items, {
          ...sampling,
          ...(values.system ? { system: values.system } : {}),
          ...(pages ? { pages } : {}),
          concurrency,
          signal: controller.signal,
          metrics,
          onProgress: (state, result) => {
            // Items cut short by Ctrl-C are neither done nor failed: the next run asks them.
            if (!result.ok && (result.error instanceof AbortError || controller.signal.aborted)) return
            emit(toRecord(pending[result.index]!, question, result))
            if (result.ok) {
              counts.ok++
              if (result.value.cached) counts.cached++
            } else {
              counts.failed++
              if (isUnreachable(result.error)) counts.unreachable++
              progress.log(`${style.red('✗')} ${pending[result.index]!.file}: ${describeError(result.error)}`)
            }
            progress.update({ ...state, skipped })
          },
        })
      }
    } catch (error) {
      if (!(error instanceof AbortError)) throw error
      interrupted = true
    } finally {
      progress.done()
      try {
        appender?.close()
      } catch (error) {
        writeError ??= error
      }
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    if (writeError !== undefined) {
      throw new CliError(`cannot write results to ${values.output ?? 'stdout'}: ${(writeError as Error).message}`, ExitCode.Failure)
    }

    const summary = metrics.summary()
    const itemLine = `items       ${inputs.length} (${counts.ok} ok${counts.cached ? `, ${counts.cached} from cache` : ''}, ${counts.failed} failed, ${skipped} already done${interrupted ? `, ${pending.length - counts.ok - counts.failed} not run` : ''})`
    if (values.json) {
      const data = {
        items: { total: inputs.length, ok: counts.ok, failed: counts.failed, cached: counts.cached, skipped, interrupted },
        output: values.output ?? null,
        metrics: summary,
      }
      if (outputPath) printJson(data)
      else process.stderr.write(`${JSON.stringify(data)}\n`)
    } else {
      log(`${style.bold('visto batch summary')}\n${itemLine}\n${formatSummary(summary)}`)
    }

    if (interrupted) return 130
    if (counts.failed > 0 && counts.ok === 0 && counts.unreachable === counts.failed) {
      log(`visto batch: cannot reach the server at ${client.baseURL}; is it running?`)
      return ExitCode.Unreachable
    }
    if (counts.failed > 0 && !values['allow-failures']) return ExitCode.Failure
    return ExitCode.Ok
  },
}
export default command
