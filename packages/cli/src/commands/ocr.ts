/**
 * `visto ocr IMAGE…`: text extraction with a prompt tuned for transcription (temperature
 * 0, generous max_tokens, no commentary), plain text or JSON.
 */
import { clientFrom, checkImagePaths, commonHelp, describeError, isUnreachable, numberFlag, parse, toCliError } from '../args.js'
import { CliError, ExitCode } from '../cli-error.js'
import type { Command } from '../cli.js'
import { printJson } from '../output.js'

export const OCR_PROMPT = [
  'Extract all text in this image exactly as written.',
  'Keep the original reading order and line breaks.',
  'Output only the extracted text: no commentary, no translation, no Markdown.',
  'If there is no text, output nothing.',
].join(' ')

const help = `Usage: visto ocr IMAGE… [options]

Transcribes the text in each image. With several images, each is printed under a
"==> FILE <==" header (like head(1)).

Options:
  --lang LANGUAGE     hint the language of the text (e.g. "Chinese")
  --max-tokens N      transcript length limit (default 2048)
  -c, --concurrency N images in flight (default 3)
  --json              an array of {file, text, finish_reason, usage, latency_ms} (or {file, error})

${commonHelp}`

/** Models sometimes wrap a transcript in a code fence despite being asked not to. */
export function stripFence(text: string): string {
  const match = /^\s*```[^\n]*\n([\s\S]*?)\n?```\s*$/.exec(text)
  return match ? match[1]! : text.trim()
}

const command: Command = {
  summary: 'extract the text from images',
  async run(argv) {
    const { values, positionals } = parse(argv, {
      lang: { type: 'string' },
      'max-tokens': { type: 'string' },
      concurrency: { type: 'string', short: 'c' },
    })
    if (values.help) {
      process.stdout.write(`${help}\n`)
      return ExitCode.Ok
    }
    if (positionals.length === 0) throw new CliError('missing IMAGE\nRun `visto ocr --help` for usage.', ExitCode.Usage)
    await checkImagePaths(positionals)
    const maxTokens = numberFlag(values['max-tokens'], 'max-tokens', { min: 1, integer: true }) ?? 2048
    const concurrency = numberFlag(values.concurrency, 'concurrency', { min: 1, integer: true }) ?? 3
    const prompt = values.lang ? `${OCR_PROMPT} The text is in ${values.lang}.` : OCR_PROMPT
    const client = clientFrom(values)
    const results = await client.batch(
      positionals.map((file) => ({ images: file, question: prompt, id: file })),
      { concurrency, maxTokens, temperature: 0 },
    )

    const failures = results.filter((r) => !r.ok)
    if (values.json) {
      printJson(
        results.map((r) =>
          r.ok
            ? { file: r.id, text: stripFence(r.value.text), finish_reason: r.value.finishReason, usage: r.value.usage ?? null, latency_ms: Math.round(r.value.latencyMs) }
            : { file: r.id, error: describeError(r.error) },
        ),
      )
    } else {
      const several = positionals.length > 1
      results.forEach((r, i) => {
        if (!r.ok) {
          process.stderr.write(`visto ocr: ${r.id}: ${describeError(r.error)}\n`)
          return
        }
        if (several) process.stdout.write(`${i > 0 ? '\n' : ''}==> ${r.id} <==\n`)
        const text = stripFence(r.value.text)
        process.stdout.write(text === '' ? '' : `${text}\n`)
        if (r.value.truncated) process.stderr.write(`visto ocr: ${r.id}: transcript cut off at max_tokens; raise --max-tokens\n`)
      })
    }
    if (failures.length === 0) return ExitCode.Ok
    if (failures.length === results.length && failures.every((r) => !r.ok && isUnreachable(r.error))) {
      const first = failures[0]!
      if (!first.ok) throw toCliError(first.error, client.baseURL)
    }
    return ExitCode.Failure
  },
}
export default command
