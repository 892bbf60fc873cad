import { CliError, ExitCode } from '../cli-error.js'
import { loadServer } from '../optional-packages.js'
import type { Command } from '../cli.js'

const command: Command = {
  summary: 'start the OpenAI-compatible API and web page on :7860 (what `npm start` runs)',
  async run(argv) {
    const { parseServeConfig, serveHelp, ConfigError } = await loadServer(() => import('@visto/server/config'))
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(`${serveHelp()}\n`)
      return ExitCode.Ok
    }
    let config: ReturnType<typeof parseServeConfig>
    try {
      config = parseServeConfig(argv)
    } catch (error) {
      if (error instanceof ConfigError) throw new CliError(error.message, ExitCode.Usage)
      throw error
    }
    const { startServer } = await loadServer(() => import('@visto/server/main'))
    const debug = config['log-level'] === 'debug'
    const log = (line: string): void => {
      if (config['log-level'] !== 'silent') process.stderr.write(`visto: ${line}\n`)
    }
    let server: Awaited<ReturnType<typeof startServer>>
    try {
      server = await startServer(config, { log, engineLog: debug ? (line) => process.stderr.write(`llama-server: ${line}\n`) : undefined })
    } catch (error) {
      // Start-up failures (model missing offline, no toolchain, port in use) are written
      // to be read as they are; the stack only helps at debug level.
      if (debug) process.stderr.write(`${(error as Error).stack}\n`)
      throw new CliError((error as Error).message, ExitCode.Failure)
    }
    let exitCode: number = ExitCode.Ok
    const stop = async (reason: string): Promise<void> => {
      log(`${reason}: draining in-flight requests (up to ${config['drain-seconds']} s)…`)
      await server.shutdown()
      log('stopped')
    }
    // Never leave an orphaned llama-server behind, whatever kills us.
    process.once('exit', () => server.kill())
    const finished = new Promise<void>((resolve) => {
      let signals = 0
      const onSignal = (signal: NodeJS.Signals): void => {
        if (++signals > 1) {
          log('second signal: exiting now')
          process.exit(130)
        }
        stop(signal).then(resolve, (error: unknown) => {
          log(`shutdown failed: ${(error as Error).message}`)
          exitCode = ExitCode.Failure
          resolve()
        })
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      server.ready.catch(async (error: unknown) => {
        log(`the engine could not start: ${(error as Error).message}`)
        exitCode = ExitCode.Failure
        await server.shutdown().catch(() => {})
        resolve()
      })
    })
    await finished
    return exitCode
  },
}
export default command
