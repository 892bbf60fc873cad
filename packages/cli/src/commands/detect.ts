/**
 * `visto detect IMAGE -q WHAT`: asks Qwen3-VL to locate WHAT with its grounding prompt and
 * prints the boxes (or points) as JSON, in pixels of the image as it is shown (upright
 * after EXIF orientation, at its original size); `--annotate OUT` also draws them.
 */
import { readFile } from 'node:fs/promises'
import { isPdf, type AskResult } from '@visto/sdk'
import { annotatedFormat, writeAnnotated } from '../annotate.js'
import { checkImagePaths, clientFrom, commonHelp, parse, toCliError } from '../args.js'
import { CliError, ExitCode } from '../cli-error.js'
import type { Command } from '../cli.js'
import { DETECT_MAX_TOKENS, detectionRecords, groundingPrompt, imageFileSize } from '../detections.js'
import { printJson, styler } from '../output.js'
import { samplingFrom, samplingOptions } from '../sampling-flags.js'

const help = `Usage: visto detect IMAGE -q WHAT [--annotate OUT.jpg] [options]

Asks the model to locate every instance of WHAT in the image, in the wording of
Qwen3-VL's grounding cookbook, and prints what it found as JSON (on one line with --json):

  {"image": "photo.jpg", "width": 4032, "height": 3024,
   "detections": [{"label": "cat", "kind": "box", "box": {"x1": 812, "y1": 340, "x2": 2210, "y2": 2675}}],
   "answer": "…", "finish_reason": "stop", "usage": {…}}

Coordinates are pixels of the image as it is shown: upright after its EXIF orientation,
at its original size (whatever size the server resized it to for the model). Points
("kind": "point") carry {"x", "y"} instead of a box. Keys the model adds ("color",
"type") come as "attributes".

Options:
  -q, --question WHAT   what to find: a category ("cat"), several ("cat, dog, ball") or a
                        description ("the red car on the left") (required)
  --points              ask for points instead of boxes
  --prompt TEXT         send TEXT instead of the grounding prompt (the answer is still
                        searched for boxes and points)
  --annotate OUT        also write the image with the boxes and points drawn and labelled,
                        as .jpg, .png or .webp (needs sharp: it comes with @visto/server)
  --max-tokens N        answer length limit (default ${DETECT_MAX_TOKENS})
  -t, --temperature T   0–2 (default 0.3)
  --system TEXT         system message

For many images: visto batch DIR -q WHAT --detect -o results.jsonl

${commonHelp}`

const command: Command = {
  summary: 'locate objects in an image: boxes or points in pixels, optionally drawn',
  async run(argv) {
    const { values, positionals } = parse(argv, {
      question: { type: 'string', short: 'q' },
      points: { type: 'boolean', default: false },
      prompt: { type: 'string' },
      annotate: { type: 'string' },
      ...samplingOptions,
    })
    if (values.help) {
      process.stdout.write(`${help}\n`)
      return ExitCode.Ok
    }
    const target = values.question?.trim()
    if (!target && values.prompt === undefined) throw new CliError('missing -q WHAT (what to find)\nRun `visto detect --help` for usage.', ExitCode.Usage)
    if (positionals.length !== 1) {
      throw new CliError(`visto detect takes one IMAGE, got ${positionals.length}; for many use \`visto batch … --detect\``, ExitCode.Usage)
    }
    const image = positionals[0]!
    if (/^(https?|data):/i.test(image)) throw new CliError('visto detect needs a local image file (its size is read from the file)', ExitCode.Usage)
    await checkImagePaths([image])
    if (values.annotate !== undefined) annotatedFormat(values.annotate)
    const bytes = new Uint8Array(await readFile(image))
    if (isPdf(bytes)) throw new CliError(`${image} is a PDF: detect works on images (ask about a page with \`visto ask --pages\`)`, ExitCode.Usage)
    const size = await imageFileSize(image)
    if (!size) throw new CliError(`cannot read the size of ${image} from its header (JPEG, PNG, WebP, GIF, BMP and TIFF are read; other formats need sharp)`, ExitCode.Failure)

    const prompt = values.prompt ?? groundingPrompt(target!, values.points ? 'point' : 'box')
    const client = clientFrom(values)
    const sampling = { maxTokens: DETECT_MAX_TOKENS, ...samplingFrom(values) }
    let result: AskResult
    try {
      result = await client.ask(bytes, prompt, { ...sampling, ...(values.system ? { system: values.system } : {}) })
    } catch (error) {
      throw toCliError(error, client.baseURL)
    }
    const detections = detectionRecords(result.text, size)
    const output = {
      image,
      width: size.width,
      height: size.height,
      detections,
      answer: result.text,
      finish_reason: result.finishReason,
      usage: result.usage ?? null,
    }
    if (values.json) printJson(output)
    else process.stdout.write(`${JSON.stringify(output, null, 2)}\n`)

    const style = styler(process.stderr)
    if (result.truncated) {
      process.stderr.write(style.yellow('visto detect: the answer was cut off at max_tokens; what came before the cut is kept; raise --max-tokens for the rest\n'))
    }
    if (detections.length === 0) process.stderr.write(style.yellow('visto detect: the answer holds no boxes or points\n'))
    if (values.annotate !== undefined) {
      const written = await writeAnnotated(bytes, detections, values.annotate)
      const boxes = detections.filter((d) => d.kind === 'box').length
      process.stderr.write(
        `visto detect: wrote ${values.annotate} (${written.width}×${written.height}, ${boxes} box${boxes === 1 ? '' : 'es'}, ${detections.length - boxes} point${detections.length - boxes === 1 ? '' : 's'})\n`,
      )
    }
    return ExitCode.Ok
  },
}
export default command
