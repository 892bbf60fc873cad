/**
 * The packages `visto` can do without. `@visto/server` brings the native parts (the
 * llama.cpp bindings, sharp, SQLite, PDFium) and is an optional peer: `visto ask`,
 * `batch`, `chat`, `ocr` and `bench` only talk HTTP, so installing the CLI must not pull
 * it in. `@visto/testkit` ships only with the repository. Commands that need one load it
 * through here, and say how to get it when it is missing.
 */
import { CliError, ExitCode } from './cli-error.js'

export const SERVER_MISSING =
  'the Visto server is not installed (it brings the native engine, image and PDF libraries): ' +
  'install it next to the CLI with `npm install @visto/server` (`npm install -g @visto/server` for a global CLI)'

export const TESTKIT_MISSING =
  'stand-in models are written by @visto/testkit, which ships only with the Visto repository: ' + 'run `npx visto standin …` in a clone after `npm install`'

/** True when `error` says that `name` itself (not one of its own dependencies) cannot be found. */
export function isMissingPackage(error: unknown, name: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  return code === 'ERR_MODULE_NOT_FOUND' && typeof message === 'string' && message.includes(`'${name}'`)
}

async function loadOptional<T>(name: string, missing: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (error) {
    if (isMissingPackage(error, name)) throw new CliError(missing, ExitCode.Failure)
    throw error
  }
}

/** Loads a module of @visto/server, or fails with SERVER_MISSING. */
export function loadServer<T>(load: () => Promise<T>): Promise<T> {
  return loadOptional('@visto/server', SERVER_MISSING, load)
}

/** Loads a module of @visto/testkit, or fails with TESTKIT_MISSING. */
export function loadTestkit<T>(load: () => Promise<T>): Promise<T> {
  return loadOptional('@visto/testkit', TESTKIT_MISSING, load)
}

/** A module of @visto/server when it is installed; undefined when it is not. */
export async function tryServer<T>(load: () => Promise<T>): Promise<T | undefined> {
  try {
    return await load()
  } catch (error) {
    if (isMissingPackage(error, '@visto/server')) return undefined
    throw error
  }
}
