/**
 * sharp, for the commands that draw on or measure images locally (`visto detect
 * --annotate`). It is a native package that comes with @visto/server, not with the CLI,
 * so it is loaded only when needed, and its absence is a clear message, never a crash.
 */
import { CliError, ExitCode } from './cli-error.js'

export type Sharp = typeof import('sharp').default

export const SHARP_MISSING = 'drawing on images needs sharp, which is not installed (it comes with @visto/server): ' + 'install it next to the CLI with `npm install sharp`'

function isMissing(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  return code === 'ERR_MODULE_NOT_FOUND' && typeof message === 'string' && message.includes("'sharp'")
}

type Importer = () => Promise<{ default: Sharp }>

const importSharp: Importer = () => import('sharp')

/** sharp, or undefined when it is not installed (a broken install still throws). */
export async function tryLoadSharp(load: Importer = importSharp): Promise<Sharp | undefined> {
  try {
    return (await load()).default
  } catch (error) {
    if (isMissing(error)) return undefined
    throw error
  }
}

/** sharp, or a CliError saying how to install it. */
export async function loadSharp(load: Importer = importSharp): Promise<Sharp> {
  const sharp = await tryLoadSharp(load)
  if (!sharp) throw new CliError(SHARP_MISSING, ExitCode.Failure)
  return sharp
}
