/**
 * `visto ask IMAGE… -q QUESTION`: one question about one or more images, PDFs or videos;
 * the answer on stdout (streamed with --stream), or a JSON object with --json.
 */
import { checkImagePaths, clientFrom, commonHelp, parse, toCliError } from '../args.js'
import { CliError, ExitCode } from '../cli-error.js'
import type { Command } from '../cli.js'
import { printJson, styler } from '../output.js'
import { samplingFrom, samplingHelp, samplingOptions } from '../sampling-flags.js'

const help = `Usage: visto ask IMAGE|PDF|VIDEO… -q QUESTION [options]

Asks one question about the images, PDFs and videos (zero or more files or http(s) URLs)
and prints the answer. Each PDF page reaches the model as an image after "Page N of M:";
a video (MP4, MOV, WebM) as sampled frames, each pair after its "<t seconds>".

Options:
  -q, --question TEXT  the question (required)
  --pages LIST       for PDFs: only these pages, e.g. "1-3,7" (default: all)
  --fps N            for videos: frames sampled per second (default: the server's, 2)
  --max-frames N     for videos: at most N frames (4 or more)
  --stream           print the answer as it is generated
${samplingHelp}

${commonHelp}`

const command: Command = {
  summary: 'ask a question about one or more images, PDFs or videos',
  async run(argv) {
    const { values, positionals } = parse(argv, {
      question: { type: 'string', short: 'q' },
      stream: { type: 'boolean', default: false },
      pages: { type: 'string' },
      fps: { type: 'string' },
      'max-frames': { type: 'string' },
      ...samplingOptions,
    })
    if (values.help) {
      process.stdout.write(`${help}\n`)
      return ExitCode.Ok
    }
    if (values.question === undefined || values.question.trim() === '') throw new CliError('missing -q QUESTION\nRun `visto ask --help` for usage.', ExitCode.Usage)
    const fps = values.fps === undefined ? undefined : Number(values.fps)
    if (fps !== undefined && !(fps > 0 && fps <= 60)) throw new CliError(`--fps must be a number above 0 and at most 60, got ${JSON.stringify(values.fps)}`, ExitCode.Usage)
    const maxFrames = values['max-frames'] === undefined ? undefined : Number(values['max-frames'])
    if (maxFrames !== undefined && !(Number.isInteger(maxFrames) && maxFrames >= 4)) {
      throw new CliError(`--max-frames must be a whole number, at least 4, got ${JSON.stringify(values['max-frames'])}`, ExitCode.Usage)
    }
    await checkImagePaths(positionals)
    const client = clientFrom(values)
    const streaming = values.stream && !values.json
    let wroteAny = false
    try {
      const result = await client.ask(positionals, values.question, {
        ...samplingFrom(values),
        ...(values.system ? { system: values.system } : {}),
        ...(values.pages ? { pages: values.pages } : {}),
        ...(fps !== undefined ? { fps } : {}),
        ...(maxFrames !== undefined ? { maxFrames } : {}),
        ...(streaming
          ? {
              onToken: (text: string) => {
                wroteAny = true
                process.stdout.write(text)
              },
            }
          : {}),
      })
      if (values.json) {
        printJson({
          text: result.text,
          finish_reason: result.finishReason,
          usage: result.usage ?? null,
          latency_ms: Math.round(result.latencyMs),
          model: result.model,
          id: result.id ?? null,
          request_id: result.requestId ?? null,
        })
      } else {
        process.stdout.write(streaming ? '\n' : `${result.text}\n`)
        if (result.truncated) {
          process.stderr.write(styler(process.stderr).yellow('visto ask: the answer was cut off at max_tokens; raise --max-tokens for the rest\n'))
        }
      }
      return ExitCode.Ok
    } catch (error) {
      if (wroteAny) process.stdout.write('\n')
      throw toCliError(error, client.baseURL)
    }
  },
}
export default command
