/**
 * `visto bench IMAGE… -c N (--duration S | --count N)`: a load generator for any
 * OpenAI-compatible server. No retries and no cache unless asked, so the numbers are
 * the server's; images are encoded once up front so they are not the client's either.
 */
import { formatDuration, imageToDataUrl, MetricsRecorder, formatSummary } from '@visto/sdk'
import { checkImagePaths, clientFrom, commonHelp, describeError, numberFlag, parse, toCliError } from '../args.js'
import { CliError, ExitCode } from '../cli-error.js'
import type { Command } from '../cli.js'
import { printJson } from '../output.js'
import { ProgressReporter } from '../progress.js'

const DEFAULT_QUESTION = 'Describe this image in one sentence.'

const help = `Usage: visto bench IMAGE… [-c N] (--duration S | --count N) [options]

Sends the same question about the images (taken in turn) from N concurrent workers and
reports throughput and latency percentiles. Requests are not retried (unless --retries).

Options:
  -c, --concurrency N   concurrent requests (default 4)
  --duration S          run for S seconds
  -n, --count N         run N requests (default 20 when no --duration)
  -q, --question TEXT   default "${DEFAULT_QUESTION}"
  --max-tokens N        default 64
  --stream              stream answers and report time to first token
  --warmup N            requests before measuring (default 1)

${commonHelp}`

const command: Command = {
  summary: 'load-test an OpenAI-compatible server (throughput, latency percentiles)',
  async run(argv) {
    const { values, positionals } = parse(argv, {
      concurrency: { type: 'string', short: 'c' },
      duration: { type: 'string' },
      count: { type: 'string', short: 'n' },
      question: { type: 'string', short: 'q' },
      'max-tokens': { type: 'string' },
      stream: { type: 'boolean', default: false },
      warmup: { type: 'string' },
    })
    if (values.help) {
      process.stdout.write(`${help}\n`)
      return ExitCode.Ok
    }
    if (positionals.length === 0) throw new CliError('missing IMAGE\nRun `visto bench --help` for usage.', ExitCode.Usage)
    if (values.duration !== undefined && values.count !== undefined) throw new CliError('give --duration or --count, not both', ExitCode.Usage)
    const concurrency = numberFlag(values.concurrency, 'concurrency', { min: 1, max: 1024, integer: true }) ?? 4
    const durationS = numberFlag(values.duration, 'duration', { min: 0.001 })
    const count = durationS === undefined ? (numberFlag(values.count, 'count', { min: 1, integer: true }) ?? 20) : undefined
    const maxTokens = numberFlag(values['max-tokens'], 'max-tokens', { min: 1, integer: true }) ?? 64
    const warmup = numberFlag(values.warmup, 'warmup', { min: 0, integer: true }) ?? 1
    const question = values.question ?? DEFAULT_QUESTION
    await checkImagePaths(positionals)

    const client = clientFrom(values.retries === undefined ? { ...values, retries: '0' } : values)
    let images: string[]
    try {
      images = await Promise.all(positionals.map((path) => (/^https?:/i.test(path) ? path : imageToDataUrl(path))))
    } catch (error) {
      throw toCliError(error, client.baseURL)
    }
    const askOnce = (index: number, metrics?: MetricsRecorder) =>
      client.ask(images[index % images.length], question, {
        maxTokens,
        temperature: 0,
        cache: false,
        ...(metrics ? { metrics } : {}),
        ...(values.stream ? { onToken: () => {} } : {}),
      })

    for (let i = 0; i < warmup; i++) {
      try {
        await askOnce(i)
      } catch (error) {
        // A server that cannot answer even once is not worth benchmarking.
        throw toCliError(error, client.baseURL)
      }
    }

    const metrics = new MetricsRecorder(Number.MAX_SAFE_INTEGER)
    const progress = new ProgressReporter({ label: 'visto bench' })
    const started = performance.now()
    const deadline = durationS === undefined ? Infinity : started + durationS * 1000
    let claimed = 0
    let completed = 0
    let failed = 0
    const errorsSeen = new Map<string, number>()
    const report = () => {
      const elapsed = performance.now() - started
      const rate = elapsed > 0 ? completed / (elapsed / 1000) : 0
      if (count !== undefined) {
        progress.update({ total: count, completed, failed, ratePerSecond: rate, etaMs: rate > 0 ? ((count - completed) / rate) * 1000 : undefined })
      } else {
        const left = Math.max(0, deadline - performance.now())
        const fraction = Math.min(1, elapsed / (durationS! * 1000))
        progress.update({
          total: 1,
          completed: fraction >= 1 ? 1 : 0,
          failed,
          ratePerSecond: rate,
          etaMs: left,
          fraction,
          text: `${completed} requests · ${failed} failed · ${rate.toFixed(2)}/s · ${formatDuration(left)} left`,
        })
      }
    }
    const ticker = setInterval(report, 1000)
    const worker = async () => {
      for (;;) {
        if (count !== undefined ? claimed >= count : performance.now() >= deadline) return
        const index = claimed++
        try {
          await askOnce(index, metrics)
        } catch (error) {
          failed++
          const message = describeError(error)
          const seen = errorsSeen.get(message) ?? 0
          errorsSeen.set(message, seen + 1)
          // The first of each kind is shown; repeats only count.
          if (seen === 0) progress.log(`visto bench: ${message}`)
        }
        completed++
        report()
      }
    }
    try {
      await Promise.all(Array.from({ length: concurrency }, worker))
    } finally {
      clearInterval(ticker)
      report()
      progress.done()
    }

    const summary = metrics.summary()
    if (values.json) {
      printJson({
        config: {
          baseURL: client.baseURL,
          model: client.model,
          concurrency,
          count: count ?? null,
          durationS: durationS ?? null,
          maxTokens,
          stream: values.stream,
          images: positionals.length,
        },
        summary,
      })
    } else {
      const mode = count !== undefined ? `${count} requests` : `${durationS} s`
      process.stdout.write(`visto bench: ${mode} at concurrency ${concurrency} against ${client.baseURL} (${client.model})\n${formatSummary(summary)}\n`)
    }
    if (summary.succeeded === 0 && summary.requests > 0) {
      const allUnreachable = summary.errors.ConnectionError === summary.failed
      return allUnreachable ? ExitCode.Unreachable : ExitCode.Failure
    }
    return ExitCode.Ok
  },
}
export default command
