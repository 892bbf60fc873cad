/**
 * `visto ocr IMAGE…`: text extraction with a prompt tuned for transcription (temperature
 * 0, generous max_tokens, no commentary), plain text or JSON. A PDF is transcribed one
 * page per request, from the rendered page (never from the PDF's own text layer).
 */
import { clientFrom, clientOptionsFrom, checkImagePaths, commonHelp, describeError, isUnreachable, numberFlag, parse, toCliError } from '../args.js'
import { CliError, ExitCode } from '../cli-error.js'
import type { Command } from '../cli.js'
import { printJson } from '../output.js'
import { countPdfPages, isPdfFile, pageSelectionFlag, type ServerAddress } from '../pdf-pages.js'

export const OCR_PROMPT = [
  'Extract all text in this image exactly as written.',
  'Keep the original reading order and line breaks.',
  'Output only the extracted text: no commentary, no translation, no Markdown.',
  'If there is no text, output nothing.',
].join(' ')

const help = `Usage: visto ocr IMAGE|PDF… [options]

Transcribes the text in each image, and in each page of a PDF (one request per page;
the model reads the rendered page, not the PDF's text layer). With several images or
pages, each is printed under a "==> FILE <==" or "==> FILE (page N of M) <==" header
(like head(1)).

Options:
  --lang LANGUAGE     hint the language of the text (e.g. "Chinese")
  --max-tokens N      transcript length limit (default 2048)
  --pages LIST        for PDFs: only these pages, e.g. "1-3,7" (default: all)
  -c, --concurrency N images or pages in flight (default 3)
  --json              an array of {file, text, finish_reason, usage, latency_ms} (or {file, error}),
                      one object per image and per PDF page (with page and pages)

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
      pages: { type: 'string' },
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
    const items = await ocrItems(positionals, values.pages, { baseURL: client.baseURL, apiKey: clientOptionsFrom(values).apiKey })
    const results = await client.batch(
      items.map((item) => ({ images: item.file, question: prompt, id: item.file, ...(item.page === undefined ? {} : { options: { pages: String(item.page) } }) })),
      { concurrency, maxTokens, temperature: 0 },
    )
    const label = (i: number): string => {
      const item = items[i]!
      return item.page === undefined ? item.file : `${item.file} (page ${item.page} of ${item.pages})`
    }
    const failures = results.filter((r) => !r.ok)
    if (values.json) {
      printJson(
        results.map((r, i) => {
          const item = items[i]!
          const where = item.page === undefined ? { file: item.file } : { file: item.file, page: item.page, pages: item.pages }
          return r.ok
            ? { ...where, text: stripFence(r.value.text), finish_reason: r.value.finishReason, usage: r.value.usage ?? null, latency_ms: Math.round(r.value.latencyMs) }
            : { ...where, error: describeError(r.error) }
        }),
      )
    } else {
      const several = items.length > 1
      results.forEach((r, i) => {
        if (!r.ok) {
          process.stderr.write(`visto ocr: ${label(i)}: ${describeError(r.error)}\n`)
          return
        }
        if (several) process.stdout.write(`${i > 0 ? '\n' : ''}==> ${label(i)} <==\n`)
        const text = stripFence(r.value.text)
        process.stdout.write(text === '' ? '' : `${text}\n`)
        if (r.value.truncated) process.stderr.write(`visto ocr: ${label(i)}: transcript cut off at max_tokens; raise --max-tokens\n`)
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
interface OcrItem {
  file: string
  /** Set for PDF pages: one request each. */
  page?: number
  pages?: number
}

/** Images as they are; each PDF expanded into its pages (all, or those --pages names). */
async function ocrItems(files: readonly string[], pageList: string | undefined, server: ServerAddress): Promise<OcrItem[]> {
  const items: OcrItem[] = []
  for (const file of files) {
    if (!(await isPdfFile(file))) {
      items.push({ file })
      continue
    }
    const count = await countPdfPages(file, server)
    // Unreadable here: send it whole, and let the server say why.
    if (count === undefined) {
      items.push({ file })
      continue
    }
    const selection = pageList === undefined ? undefined : pageSelectionFlag(pageList)
    const wanted = selection?.kind === 'some' ? new Set(selection.pages) : null
    for (let page = 1; page <= count; page++) if (wanted === null || wanted.has(page)) items.push({ file, page, pages: count })
    if (wanted !== null) {
      const missing = [...wanted].filter((page) => page > count)
      if (missing.length > 0) throw new CliError(`--pages asks for page ${missing.join(', ')}, but ${file} has ${count} page${count === 1 ? '' : 's'}`, ExitCode.Usage)
    }
  }
  return items
}

export default command
