import { parseServeConfig } from '../packages/server/src/config.js'
import { startServer, type RunningServer, type ServeIo } from '../packages/server/src/main.js'
import type { StandinOutput } from '@visto/testkit/standin/text-model'
import { freshDataDir } from './data-dir.js'
import { ensureTinyStandin } from './standin.js'

/** The real server (real llama-server, tiny stand-in) in this process, on a free port. */
export async function startTinyServer(extraArgs: string[] = [], output: StandinOutput = 'printable', io: Partial<ServeIo> = {}): Promise<RunningServer> {
  const standin = await ensureTinyStandin(output)
  const config = parseServeConfig(
    [
      '--port',
      '0',
      '--model',
      standin.model,
      '--mmproj',
      standin.mmproj,
      '--ctx-size',
      '2048',
      '--threads',
      '2',
      '--log-level',
      'silent',
      '--data-dir',
      freshDataDir(),
      ...extraArgs,
    ],
    {},
  )
  const server = await startServer(config, { log: () => {}, ...io })
  await server.ready
  return server
}
