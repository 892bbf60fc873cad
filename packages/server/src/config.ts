/**
 * `visto serve` configuration: one table of options with their defaults and reasons.
 * Precedence: command-line flag → VISTO_* environment variable → default. Validated
 * once, then frozen; main.ts logs only what differs from the defaults.
 */

import { DEFAULT_MODEL_ID } from '@visto/protocol'
import { parseOriginList } from './access.js'
import { redactUrlCredentials } from './redact.js'

type Kind = 'string' | 'int' | 'number' | 'boolean'

interface OptionSpec {
  kind: Kind
  default?: string | number | boolean
  description: string
  choices?: readonly string[]
  min?: number
  max?: number
  secret?: boolean
  /** Given several times, the values join with commas (`--upstream-url A --upstream-url B` is `A,B`). */
  repeatable?: boolean
}

const MiB = 1024 * 1024
/**
 * Levels of a batch line above a response_format schema: line, body, response_format,
 * json_schema, and one spare; a tool's parameters sit as deep (line, body, tools, the tool, function).
 */
const jsonDepthAroundSchema = 5

export const serveOptions = {
  port: { kind: 'int', default: 7860, min: 0, max: 65535, description: 'HTTP port.' },
  host: { kind: 'string', default: '127.0.0.1', description: 'Interface to bind. 0.0.0.0 opens the API to the network (containers).' },
  model: {
    kind: 'string',
    description: 'A .gguf file, a folder holding one, or a hub repo such as Qwen/Qwen3-VL-4B-Instruct-GGUF:Q4_K_M. Default: the official Qwen3-VL-4B-Instruct Q4_K_M.',
  },
  mmproj: { kind: 'string', description: 'The vision projector .gguf (found next to --model when omitted).' },
  'model-alias': { kind: 'string', default: DEFAULT_MODEL_ID, description: 'The model id clients send. Comma-separate several.' },
  source: { kind: 'string', default: 'huggingface', choices: ['huggingface', 'modelscope'], description: 'Where hub models are downloaded from (HF_ENDPOINT selects a mirror).' },
  'ctx-size': { kind: 'int', default: 8192, min: 512, description: 'Context length per request, in tokens (a 1024×1024 image takes 1024).' },
  parallel: { kind: 'int', default: 2, min: 1, max: 64, description: 'Requests generated at once (llama.cpp slots, continuous batching).' },
  'max-queue': { kind: 'int', default: 64, min: 0, description: 'Requests that may wait for a slot; beyond that: 503 with Retry-After.' },
  threads: { kind: 'int', min: 1, description: 'CPU threads for the engine (default: llama.cpp picks).' },
  'gpu-layers': { kind: 'int', min: 0, description: 'Layers offloaded to the GPU (default: llama.cpp decides; 0 = CPU only).' },
  engine: {
    kind: 'string',
    default: 'llama.cpp',
    choices: ['llama.cpp', 'openai'],
    description: 'llama.cpp runs the model here; openai fronts an existing OpenAI-compatible server (vLLM, SGLang, llama.cpp).',
  },
  'upstream-url': {
    kind: 'string',
    repeatable: true,
    description:
      'With --engine openai: the upstream base URL, e.g. http://gpu-box:8000/v1 (user:pass@ in it is sent as Basic auth, never shown). Several (comma-separated or the flag repeated) form a pool behind one endpoint.',
  },
  'upstream-api-key': { kind: 'string', secret: true, description: 'With --engine openai: the upstream API key.' },
  // Only a hung engine may be killed, never a slow one: llama-server's /slots moves after each
  // prompt batch and each image, and the slowest such step measured on 2 CPU cores with the 4B
  // model (docs/benchmarks.md) is one photo at the default pixel budget: 66 s for its 1,029
  // tokens (vision encoder 34 s plus decoding them; plain prompt runs at 36 tok/s, so a 2,048-token
  // batch takes about 57 s). A detail "high" image has 2.25× the pixels and tokens: about 150–170 s
  // (estimated, not measured). So 120 s would kill good work; 300 s leaves room for a machine
  // shared with other work, and still ends a frozen engine in minutes rather than never.
  'engine-stall-seconds': {
    kind: 'number',
    default: 300,
    min: 0,
    description:
      'With --engine llama.cpp: how long llama-server may hold requests without progress (no token, no prompt batch done, no answer) before it counts as hung and is killed and restarted, its requests failing with 503; 0 = never.',
  },
  'upstream-parallel': {
    kind: 'int',
    min: 1,
    max: 1024,
    description: 'With --engine openai: requests each upstream runs at once (default: what a llama-server reports at /props, else --parallel).',
  },
  'upstream-discovery': {
    kind: 'string',
    default: 'static',
    choices: ['static', 'dns'],
    description: 'With --engine openai: static uses the URLs as given; dns resolves each URL’s host name again and again, every address an engine (a Kubernetes headless Service).',
  },
  'upstream-discovery-seconds': { kind: 'number', default: 10, min: 0.1, description: 'With --upstream-discovery dns: how often the names are resolved again.' },
  'upstream-probe-seconds': {
    kind: 'number',
    default: 5,
    min: 0.05,
    description: 'With several engines: how often each is health-checked, and how long a failing one stays out before it is tried again (doubling, up to 30 s).',
  },
  replicas: {
    kind: 'int',
    default: 1,
    min: 1,
    max: 64,
    description: 'With --engine llama.cpp: llama-server children behind one endpoint, each with --parallel slots; with --devices and no --replicas, one per device.',
  },
  devices: { kind: 'string', description: 'With --replicas: the GPUs to pin the children to, comma-separated (child i gets CUDA_VISIBLE_DEVICES=devices[i mod n]).' },
  routing: {
    kind: 'string',
    default: 'affinity',
    choices: ['affinity', 'least-loaded', 'round-robin'],
    description:
      'With several engines: affinity sends an image (and a conversation) to the same engine, for its caches, within a load bound; least-loaded or round-robin ignore content.',
  },
  'llama-server': { kind: 'string', description: 'Path to a llama-server binary (default: PATH, then Visto’s own cached build).' },
  'api-key': {
    kind: 'string',
    secret: true,
    description: 'Require "Authorization: Bearer KEY" on every API route (default: none). Prefer VISTO_API_KEY: flags are visible to other users in ps.',
  },
  'cors-origins': {
    kind: 'string',
    description: 'Other web origins (scheme://host:port, comma-separated, or *) allowed to call the API from a browser. Default: only the server’s own page.',
  },
  'allowed-hosts': {
    kind: 'string',
    description: 'Host names the server answers to besides loopback ones (comma-separated), e.g. a reverse proxy’s name. Checked when bound to loopback or when set.',
  },
  'body-limit-mb': { kind: 'number', default: 50, min: 0.001, description: 'Largest request body in MiB (base64 makes images a third larger).' },
  'body-timeout-seconds': {
    kind: 'number',
    default: 300,
    min: 0,
    description: 'How long receiving one request (headers and body) may take; 0 = no limit. Generation is not limited.',
  },
  'allow-remote-images': { kind: 'boolean', default: false, description: 'Fetch http(s) image URLs (SSRF-guarded). Off: only inline base64 data URLs.' },
  'max-image-mb': { kind: 'number', default: 20, min: 0.001, description: 'Largest image, in MiB of decoded bytes.' },
  'max-images': { kind: 'int', default: 8, min: 1, description: 'Most images per request.' },
  'max-image-pixels': { kind: 'int', default: 100_000_000, min: 1, description: 'Largest decoded image area (decompression-bomb guard).' },
  'image-pixels-low': { kind: 'int', default: 512 * 512, min: 1024, description: 'Pixel budget for image_url.detail "low".' },
  'image-pixels': { kind: 'int', default: 1024 * 1024, min: 1024, description: 'Pixel budget for detail "auto" (about 1024×1024).' },
  'image-pixels-high': { kind: 'int', default: 1536 * 1536, min: 1024, description: 'Pixel budget for detail "high".' },
  // Decoding is CPU- and memory-heavy: a fixed number at once bounds peak memory whatever the request rate.
  'decode-concurrency': { kind: 'int', default: 2, min: 1, max: 64, description: 'Images and PDFs decoded or rendered at once, all requests together; the rest wait their turn.' },
  'max-pdf-pages': { kind: 'int', default: 16, min: 1, max: 1000, description: 'Most PDF pages rendered for one request, all file parts together.' },
  'max-pdf-tokens': { kind: 'int', min: 1, description: 'Most image tokens the PDF pages of one request may take together (default: --ctx-size).' },
  'max-pdf-mb': { kind: 'number', default: 32, min: 0.001, description: 'Largest PDF, in MiB of decoded bytes.' },
  'pdf-timeout-seconds': { kind: 'number', default: 60, min: 1, description: 'Time limit for reading, and again for rendering, one PDF.' },
  // Video is read by the system's ffmpeg, run as a limited subprocess (see video/ffmpeg-process.ts).
  ffmpeg: { kind: 'string', description: 'The ffmpeg binary videos are read with; ffprobe is taken from the same folder (default: ffmpeg and ffprobe on PATH).' },
  'max-video-mb': { kind: 'number', default: 100, min: 0.001, description: 'Largest video, in MiB of decoded bytes.' },
  'max-video-seconds': { kind: 'number', default: 600, min: 1, description: 'Longest video, read from its headers before any frame is decoded.' },
  // On 2 CPU cores the 4B model reads about 15 image tokens a second (docs/benchmarks.md), so 2,048 keep one video near two minutes of prompt processing.
  'max-video-tokens': {
    kind: 'int',
    default: 2048,
    min: 128,
    description: 'Image tokens one video may take, all its frames together: a longer clip gets smaller, then fewer, frames.',
  },
  'max-videos': { kind: 'int', default: 2, min: 1, max: 16, description: 'Most video parts per request.' },
  'video-timeout-seconds': { kind: 'number', default: 120, min: 1, description: 'Time limit for reading the headers of, and again for decoding, one video.' },
  'max-messages': { kind: 'int', default: 256, min: 1, description: 'Most messages per chat request.' },
  'max-message-parts': { kind: 'int', default: 64, min: 1, description: 'Most content parts (text and images) per message.' },
  'max-text-chars': { kind: 'int', default: 1_000_000, min: 1, description: 'Most characters of text per request, all messages together.' },
  'max-schema-depth': { kind: 'int', default: 32, min: 1, max: 256, description: 'Deepest nesting of a response_format JSON schema.' },
  // JSON.parse and every walk over its result cost time per level of nesting: a 46 MiB run of `[` blocked
  // the event loop for 16 s. Real requests nest a few levels, plus a response_format schema's own depth.
  'max-json-depth': {
    kind: 'int',
    default: 64,
    min: 8,
    max: 10_000,
    description: 'Deepest nesting of objects and arrays in a JSON request body or batch line, checked before parsing; keep it above --max-schema-depth.',
  },
  'max-schema-kb': { kind: 'number', default: 64, min: 0.1, description: 'Largest response_format JSON schema, in KiB of JSON.' },
  'max-n': { kind: 'int', default: 4, min: 1, max: 64, description: "Most choices (n) per chat request; they are generated one after another in the request's engine slot." },
  'default-max-tokens': { kind: 'int', default: 1024, min: 1, description: 'max_tokens when a request sets none.' },
  'response-cache-mb': { kind: 'number', default: 64, min: 0, description: 'Memory for answers to repeated identical requests (LRU), in MiB; 0 turns the response cache off.' },
  'response-cache': {
    kind: 'string',
    default: 'deterministic',
    choices: ['deterministic', 'all', 'off'],
    description: 'Which answers are cached: deterministic ones (temperature 0 or a seed), all (sampled ones too), or off.',
  },
  'image-cache-mb': {
    kind: 'string',
    default: 'auto',
    description:
      'Memory for recent images’ embeddings inside the engine (LRU), in MiB, so another question about the same image skips the vision encoder: auto = an eighth of the memory this process may use, at most 4096 (shared by --replicas), or a number; 0 turns it off. Needs Visto’s own llama-server build; others ignore it.',
  },
  'metrics-public': { kind: 'boolean', default: false, description: 'Serve GET /metrics without the API key (for a Prometheus that cannot send one).' },
  'drain-seconds': { kind: 'number', default: 30, min: 0, description: 'On SIGINT/SIGTERM, how long in-flight requests may finish.' },
  'data-dir': { kind: 'string', description: 'Folder for batch state (SQLite), batch files and stored responses (default <cache>/data).' },
  'batch-concurrency': {
    kind: 'string',
    default: 'auto',
    description:
      'Batch requests generated at once, at most: auto = one per engine slot (with several engines, every healthy one’s, following them as they come and go), or a number. They only take a slot no interactive request is waiting for.',
  },
  'batch-max-file-mb': { kind: 'number', default: 200, min: 0.0001, description: 'Largest file upload for batches, in MiB.' },
  'batch-max-lines': { kind: 'int', default: 50_000, min: 1, description: 'Most requests in one batch.' },
  'batch-disk-gb': { kind: 'number', default: 20, min: 0.000001, description: 'Disk space for all batch files together (inputs and results), in GiB.' },
  'batch-retention-hours': { kind: 'number', default: 720, min: 0, description: 'How long ended batches and their result files are kept.' },
  'response-retention-hours': {
    kind: 'number',
    default: 720,
    min: 0,
    description: 'How long stored Responses API responses (store: true) are kept after their conversation was last continued.',
  },
  'response-store-mb': { kind: 'number', default: 2048, min: 0.001, description: 'Disk space for stored responses together, in MiB; beyond it the oldest are deleted first.' },
  cache: { kind: 'string', description: 'Cache folder for models and the engine build (default ~/.cache/visto; env VISTO_CACHE).' },
  'log-level': { kind: 'string', default: 'info', choices: ['silent', 'error', 'warn', 'info', 'debug'], description: 'Server log level.' },
} as const satisfies Record<string, OptionSpec>

export type ServeOptionName = keyof typeof serveOptions

type ValueOf<K extends Kind> = K extends 'string' ? string : K extends 'boolean' ? boolean : number
type Spec<N extends ServeOptionName> = (typeof serveOptions)[N]
export type ServeConfig = {
  readonly [N in ServeOptionName]: Spec<N> extends { default: unknown } ? ValueOf<Spec<N>['kind']> : ValueOf<Spec<N>['kind']> | undefined
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function envName(option: string): string {
  return `VISTO_${option.toUpperCase().replaceAll('-', '_')}`
}

function convert(name: string, spec: OptionSpec, raw: string | boolean, origin: string): string | number | boolean {
  if (spec.kind === 'boolean') {
    if (typeof raw === 'boolean') return raw
    if (/^(1|true|yes|on)$/i.test(raw)) return true
    if (/^(0|false|no|off|)$/i.test(raw)) return false
    throw new ConfigError(`${origin} must be true or false, got "${raw}"`)
  }
  if (typeof raw === 'boolean') throw new ConfigError(`${origin} needs a value`)
  if (spec.kind === 'string') {
    if (spec.choices && !spec.choices.includes(raw)) throw new ConfigError(`${origin} must be one of ${spec.choices.join(', ')}, got "${raw}"`)
    if (raw === '') throw new ConfigError(`${origin} must not be empty`)
    return raw
  }
  const value = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(value) || (spec.kind === 'int' && !Number.isInteger(value))) {
    throw new ConfigError(`${origin} must be ${spec.kind === 'int' ? 'a whole number' : 'a number'}, got "${raw}"`)
  }
  if (spec.min !== undefined && value < spec.min) throw new ConfigError(`${origin} must be at least ${spec.min}, got ${value}`)
  if (spec.max !== undefined && value > spec.max) throw new ConfigError(`${origin} must be at most ${spec.max}, got ${value}`)
  void name
  return value
}

/**
 * Parses `visto serve` flags (`--name value`, `--name=value`, `--flag`, `--no-flag`) over
 * VISTO_* variables over defaults. Throws ConfigError with one clear line.
 */
export function parseServeConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const fromFlags = new Map<string, string | boolean>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}" (options start with --; see visto serve --help)`)
    let [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined]
    let negated = false
    if (!(name in serveOptions) && name.startsWith('no-') && name.slice(3) in serveOptions) {
      name = name.slice(3)
      negated = true
    }
    const spec = (serveOptions as Record<string, OptionSpec>)[name]
    if (!spec) throw new ConfigError(`unknown option --${name} (see visto serve --help)`)
    if (spec.kind === 'boolean') {
      fromFlags.set(name, negated ? false : (inline ?? true))
      continue
    }
    if (negated) throw new ConfigError(`--no-${name} is not valid; --${name} takes a value`)
    const value = inline ?? argv[++i]
    if (value === undefined) throw new ConfigError(`--${name} needs a value`)
    const earlier = fromFlags.get(name)
    fromFlags.set(name, spec.repeatable && typeof earlier === 'string' ? `${earlier},${value}` : value)
  }
  const config: Record<string, string | number | boolean | undefined> = {}
  for (const [name, spec] of Object.entries(serveOptions as Record<string, OptionSpec>)) {
    const flag = fromFlags.get(name)
    const fromEnv = env[envName(name)]
    if (flag !== undefined) config[name] = convert(name, spec, flag, `--${name}`)
    else if (fromEnv !== undefined && fromEnv !== '') config[name] = convert(name, spec, fromEnv, envName(name))
    else config[name] = spec.default
  }
  if (config.cache === undefined && env.VISTO_CACHE) config.cache = env.VISTO_CACHE
  if (config.engine === 'openai' && !config['upstream-url']) throw new ConfigError('--engine openai needs --upstream-url (e.g. http://gpu-box:8000/v1)')
  if (config.engine === 'openai' && upstreamUrls(config['upstream-url'] as string).length === 0) throw new ConfigError('--upstream-url lists no URL')
  if (config.devices !== undefined && parseDevices(config.devices as string).length === 0) throw new ConfigError('--devices lists no device (e.g. --devices 0,1)')
  if (config.engine === 'openai' && ((config.replicas as number) > 1 || config.devices !== undefined)) {
    throw new ConfigError('--replicas and --devices start llama-server children: they need --engine llama.cpp (with --engine openai, list the engines in --upstream-url)')
  }
  const low = config['image-pixels-low'] as number
  const auto = config['image-pixels'] as number
  const high = config['image-pixels-high'] as number
  if (!(low <= auto && auto <= high)) throw new ConfigError(`image pixel budgets must satisfy low ≤ default ≤ high, got ${low}, ${auto}, ${high}`)
  // A schema sits inside a request (body → response_format → json_schema → schema, and a batch line's body around that).
  if ((config['max-json-depth'] as number) < (config['max-schema-depth'] as number) + jsonDepthAroundSchema) {
    throw new ConfigError(
      `--max-json-depth (${config['max-json-depth']}) must be at least --max-schema-depth + ${jsonDepthAroundSchema} (${(config['max-schema-depth'] as number) + jsonDepthAroundSchema}): a request holds its schema that many levels down`,
    )
  }
  batchConcurrency(config['batch-concurrency'] as string)
  imageCacheSetting(config['image-cache-mb'] as string)
  try {
    parseOriginList(config['cors-origins'] as string | undefined)
  } catch (error) {
    throw new ConfigError(`--cors-origins: ${(error as Error).message}`)
  }
  return Object.freeze(config) as ServeConfig
}

/** The engines --upstream-url names: comma-separated, blanks dropped. */
export function upstreamUrls(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

/** --batch-concurrency: `auto` (every slot the engines have) or a fixed number. */
export function batchConcurrency(value: string): number | 'auto' {
  if (value === 'auto') return 'auto'
  const count = Number(value)
  if (!/^\d+$/.test(value.trim()) || count < 1 || count > 1024) throw new ConfigError(`--batch-concurrency must be auto or a whole number from 1 to 1024, got "${value}"`)
  return count
}

/** --image-cache-mb as given: auto, or MiB (≥ 0). */
export function imageCacheSetting(value: string): number | 'auto' {
  if (value.trim() === 'auto') return 'auto'
  const mb = Number(value)
  if (value.trim() === '' || !Number.isFinite(mb) || mb < 0) throw new ConfigError(`--image-cache-mb must be auto or a number of MiB (0 turns the cache off), got "${value}"`)
  return mb
}

/** --devices as a list: "0,1" → ["0", "1"]. */
export function parseDevices(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

/** How many llama-server children --replicas and --devices ask for. */
export function replicaCount(config: ServeConfig): number {
  const devices = parseDevices(config.devices)
  return config.replicas === serveOptions.replicas.default && devices.length > 0 ? devices.length : config.replicas
}

/**
 * A validated config from option values, as `visto serve --name value` would give:
 * what tests and scripts compose servers from.
 */
export function serveConfig(options: Partial<Record<ServeOptionName, string | number | boolean>> = {}): ServeConfig {
  const argv: string[] = []
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue
    argv.push(typeof value === 'boolean' ? (value ? `--${name}` : `--no-${name}`) : `--${name}=${value}`)
  }
  return parseServeConfig(argv, {})
}

/** Options that differ from their defaults, secrets redacted: what start-up logs. */
export function describeNonDefaults(config: ServeConfig): string[] {
  const lines: string[] = []
  for (const [name, spec] of Object.entries(serveOptions as Record<string, OptionSpec>)) {
    const value = config[name as ServeOptionName]
    if (value === undefined || value === spec.default) continue
    lines.push(`${name}=${spec.secret ? '<redacted>' : redactUrlCredentials(String(value))}`)
  }
  return lines
}

export function serveHelp(): string {
  const lines = ['Usage: visto serve [options]', '', 'Every option can also be set as VISTO_<NAME> (e.g. VISTO_PORT=8080).', '']
  const options = Object.entries(serveOptions as Record<string, OptionSpec>).map(([name, spec]) => ({
    flag: `  --${name}${spec.kind === 'boolean' ? '' : ' VALUE'}`,
    text: spec.description + (spec.default === undefined ? '' : ` (default: ${spec.default})`),
  }))
  // One column for every description, two spaces past the longest flag.
  const column = Math.max(30, ...options.map(({ flag }) => flag.length + 2))
  for (const { flag, text } of options) lines.push(flag.padEnd(column) + text)
  return lines.join('\n')
}

export { MiB }

/** Every option at its default. */
export const defaultServeConfig: ServeConfig = parseServeConfig([], {})
