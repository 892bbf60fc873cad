import { parseArgs } from 'node:util'
import { formatBytes } from '@visto/protocol'
import { CliError, ExitCode } from '../cli-error.js'
import { loadTestkit } from '../optional-packages.js'
import type { Command } from '../cli.js'

const PRESETS = ['tiny', 'qwen3-vl-4b'] as const
const QUANTS = ['q4_0', 'q8_0', 'f16'] as const
const MMPROJ_QUANTS = ['f16', 'q8_0'] as const

const help = `Usage: visto standin --preset tiny|qwen3-vl-4b --out DIR [--quant q4_0|q8_0|f16]
                     [--mmproj-quant f16|q8_0] [--seed N]

Writes DIR/model.gguf and DIR/mmproj.gguf: a Qwen3-VL model with random weights, the real
architecture, tokenizer special tokens and chat template, for tests and benchmarks offline.
  tiny          a few hundred kB; loads and answers in well under a second (f16 by default)
  qwen3-vl-4b   Qwen3-VL-4B-Instruct's exact shapes, about 3.3 GB (text q4_0, mmproj f16 by default)
The same options and seed (default 42) always give byte-identical files.`

const command: Command = {
  summary: 'write a stand-in Qwen3-VL model pair (random weights, real architecture)',
  async run(argv) {
    const values = parseFlags(argv)
    if (values.help) {
      process.stdout.write(`${help}\n`)
      return ExitCode.Ok
    }
    const preset = oneOf('--preset', values.preset, PRESETS, true)
    const quant = oneOf('--quant', values.quant, QUANTS)
    const mmprojQuant = oneOf('--mmproj-quant', values['mmproj-quant'], MMPROJ_QUANTS)
    if (!values.out) throw new CliError(`--out DIR is required\n\n${help}`, ExitCode.Usage)
    const seed = values.seed === undefined ? undefined : Number(values.seed)
    if (seed !== undefined && !(/^\d+$/.test(values.seed!) && seed <= 0xffffffff)) {
      throw new CliError('--seed must be an integer from 0 to 4294967295', ExitCode.Usage)
    }

    const { generateStandin } = await loadTestkit(() => import('@visto/testkit/standin/generate-standin'))
    const started = Date.now()
    const interactive = process.stderr.isTTY === true
    let lastLine = 0
    const files = await generateStandin({
      preset,
      outDir: values.out,
      ...(quant ? { quant } : {}),
      ...(mmprojQuant ? { mmprojQuant } : {}),
      ...(seed === undefined ? {} : { seed }),
      onProgress: (p) => {
        const done = p.bytesWritten === p.totalBytes
        const now = Date.now()
        if (!done && now - lastLine < (interactive ? 200 : 5000)) return
        lastLine = now
        const percent = ((100 * p.bytesWritten) / p.totalBytes).toFixed(1).padStart(5)
        const line = `${percent}%  ${formatBytes(p.bytesWritten)}/${formatBytes(p.totalBytes)}  ${p.file}`
        if (interactive) process.stderr.write(`\r\x1b[K${line}${done ? '\n' : ''}`)
        else process.stderr.write(`${line}\n`)
      },
    })
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    process.stderr.write(`Wrote ${formatBytes(files.modelBytes)} + ${formatBytes(files.mmprojBytes)} in ${seconds}s\n`)
    process.stdout.write(`${files.model}\n${files.mmproj}\n`)
    return ExitCode.Ok
  },
}
export default command

function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        preset: { type: 'string' },
        out: { type: 'string' },
        quant: { type: 'string' },
        'mmproj-quant': { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (error) {
    // parseArgs reports unknown flags, missing values and stray arguments as TypeErrors.
    throw new CliError(`${error instanceof Error ? error.message : String(error)}\n\n${help}`, ExitCode.Usage)
  }
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], required: true): T
function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined
function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], required = false): T | undefined {
  if (value === undefined) {
    if (required) throw new CliError(`${flag} is required (${allowed.join(' or ')})`, ExitCode.Usage)
    return undefined
  }
  if (!(allowed as readonly string[]).includes(value)) {
    throw new CliError(`${flag} must be ${allowed.join(', ')}; got "${value}"`, ExitCode.Usage)
  }
  return value as T
}
