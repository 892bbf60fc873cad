/**
 * `visto` command dispatcher. Commands are imported lazily so `visto ask` never loads
 * the server (sharp, fastify) and `visto serve` never pays for the SDK's CLI helpers.
 * One catch at the top prints the message and picks the exit code.
 */
import { CliError, ExitCode } from './cli-error.js'

export interface Command {
  /** One line for `visto --help`. */
  summary: string
  run(argv: string[]): Promise<number>
}

const commands: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.js')).default,
  standin: async () => (await import('./commands/standin.js')).default,
  engine: async () => (await import('./commands/engine.js')).default,
  models: async () => (await import('./commands/models.js')).default,
  ask: async () => (await import('./commands/ask.js')).default,
  batch: async () => (await import('./commands/batch.js')).default,
  chat: async () => (await import('./commands/chat.js')).default,
  ocr: async () => (await import('./commands/ocr.js')).default,
  detect: async () => (await import('./commands/detect.js')).default,
  bench: async () => (await import('./commands/bench.js')).default,
}

async function usage(): Promise<string> {
  const lines = ['Usage: visto <command> [options]', '', 'Commands:']
  for (const [name, load] of Object.entries(commands)) {
    let summary = ''
    try {
      summary = (await load()).summary
    } catch {
      summary = '(unavailable)'
    }
    lines.push(`  ${name.padEnd(9)} ${summary}`)
  }
  lines.push('', 'Run `visto <command> --help` for its options.')
  return lines.join('\n')
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${await usage()}\n`)
    return name === undefined ? ExitCode.Usage : ExitCode.Ok
  }
  const load = commands[name]
  if (!load) {
    process.stderr.write(`visto: unknown command "${name}"\n\n${await usage()}\n`)
    return ExitCode.Usage
  }
  try {
    const command = await load()
    return await command.run(rest)
  } catch (error) {
    if (error instanceof CliError) {
      process.stderr.write(`visto ${name}: ${error.message}\n`)
      return error.exitCode
    }
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
    process.stderr.write(`visto ${name}: ${message}\n`)
    return ExitCode.Failure
  }
}
