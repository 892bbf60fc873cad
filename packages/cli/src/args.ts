/**
 * Flags every client command shares, parsing with node:util's parseArgs, and the one
 * place SDK errors become user-facing CliErrors with the documented exit codes.
 */
import { stat } from 'node:fs/promises'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import {
  ConnectionError,
  createClient,
  DEFAULT_BASE_URL,
  DEFAULT_MODEL,
  InvalidImageError,
  TimeoutError,
  ApiError,
  AbortError,
  type ClientOptions,
  type VistoClient,
} from '@visto/sdk'
import { CliError, ExitCode } from './cli-error.js'

export const commonOptions = {
  'base-url': { type: 'string' },
  model: { type: 'string', short: 'm' },
  'api-key': { type: 'string' },
  json: { type: 'boolean', default: false },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies NonNullable<ParseArgsConfig['options']>

export const commonHelp = `Common options:
  --base-url URL   server root or its /v1 URL (env VISTO_BASE_URL; default ${DEFAULT_BASE_URL})
  -m, --model ID   model to ask for (env VISTO_MODEL; default ${DEFAULT_MODEL})
  --api-key KEY    sent as a Bearer token; prefer env VISTO_API_KEY (a flag shows in ps)
  --timeout S      per-attempt timeout in seconds (default 120)
  --retries N      retries on 408/409/429/5xx and network errors (default 2)
  --json           machine-readable output on stdout
  -h, --help       this help

Exit codes: 0 ok, 1 failure, 2 usage, 3 server unreachable. NO_COLOR disables colour.`

type Options = NonNullable<ParseArgsConfig['options']>

export type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: typeof commonOptions & T; allowPositionals: true; strict: true }>>

/** parseArgs with the common flags added; a parse failure is a usage error. */
export function parse<T extends Options>(argv: string[], options: T): Parsed<T> {
  try {
    return parseArgs({ args: argv, options: { ...commonOptions, ...options }, allowPositionals: true, strict: true })
  } catch (error) {
    throw new CliError(`${(error as Error).message}\nRun with --help for usage.`, ExitCode.Usage)
  }
}

export function numberFlag(value: string | undefined, name: string, range: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  if (value === undefined) return undefined
  const parsed = Number(value)
  const bad =
    value.trim() === '' ||
    !Number.isFinite(parsed) ||
    (range.integer && !Number.isInteger(parsed)) ||
    (range.min !== undefined && parsed < range.min) ||
    (range.max !== undefined && parsed > range.max)
  if (bad) {
    const kind = range.integer ? 'an integer' : 'a number'
    const bounds = range.min !== undefined ? (range.max !== undefined ? ` between ${range.min} and ${range.max}` : ` ≥ ${range.min}`) : ''
    throw new CliError(`--${name} must be ${kind}${bounds}, got "${value}"`, ExitCode.Usage)
  }
  return parsed
}

export interface CommonValues {
  'base-url'?: string | undefined
  model?: string | undefined
  'api-key'?: string | undefined
  timeout?: string | undefined
  retries?: string | undefined
}

export function clientOptionsFrom(values: CommonValues, extra: ClientOptions = {}): ClientOptions {
  const env = process.env
  const options: ClientOptions = {
    baseURL: values['base-url'] ?? (env.VISTO_BASE_URL || DEFAULT_BASE_URL),
    model: values.model ?? (env.VISTO_MODEL || DEFAULT_MODEL),
    ...extra,
  }
  // Only Visto's own variable: a key meant for another service (OPENAI_API_KEY) must
  // never travel to whatever server --base-url names.
  const apiKey = values['api-key'] ?? (env.VISTO_API_KEY || undefined)
  if (apiKey) options.apiKey = apiKey
  const timeout = numberFlag(values.timeout, 'timeout', { min: 0.001 })
  if (timeout !== undefined) options.timeout = Math.round(timeout * 1000)
  const retries = numberFlag(values.retries, 'retries', { min: 0, integer: true })
  if (retries !== undefined) options.maxRetries = retries
  return options
}

export function clientFrom(values: CommonValues, extra: ClientOptions = {}): VistoClient {
  try {
    return createClient(clientOptionsFrom(values, extra))
  } catch (error) {
    if (error instanceof TypeError) throw new CliError(`--base-url: ${error.message}`, ExitCode.Usage)
    throw error
  }
}

/** Image arguments must exist before anything is sent; http(s) URLs pass through. */
export async function checkImagePaths(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    if (/^(https?|data):/i.test(path)) continue
    const info = await stat(path).catch(() => undefined)
    if (!info) throw new CliError(`no such file: ${path}`, ExitCode.Usage)
    if (!info.isFile()) throw new CliError(`not a file: ${path}`, ExitCode.Usage)
  }
}

export function isUnreachable(error: unknown): boolean {
  return error instanceof ConnectionError && !(error instanceof TimeoutError)
}

/** One line describing an SDK error for a human. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const id = error.requestId ? ` (request ${error.requestId})` : ''
    return `${error.message}${id}`
  }
  if (error instanceof Error) return error.message
  return String(error)
}

/** Maps an SDK error onto the CLI's exit codes. */
export function toCliError(error: unknown, baseURL: string): CliError {
  if (error instanceof CliError) return error
  if (isUnreachable(error)) {
    const reason = (error as ConnectionError).reason
    return new CliError(
      `cannot reach the server at ${baseURL}${reason ? ` (${reason})` : ''}; is it running? Start one with \`visto serve\` or pass --base-url`,
      ExitCode.Unreachable,
    )
  }
  if (error instanceof AbortError) return new CliError('interrupted', 130)
  if (error instanceof InvalidImageError) return new CliError(error.message, ExitCode.Failure)
  return new CliError(describeError(error), ExitCode.Failure)
}
