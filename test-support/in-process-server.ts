import { parseServeConfig } from '../packages/server/src/config.js'
import { startServer, type RunningServer, type ServeIo } from '../packages/server/src/main.js'
import type { StandinOutput } from '@visto/testkit/standin/text-model'
import { ensureTinyStandin, tinyServeArgs } from './standin.js'

/** The real server (real llama-server, tiny stand-in) in this process, on a free port. */
export async function startTinyServer(extraArgs: string[] = [], output: StandinOutput = 'printable', io: Partial<ServeIo> = {}): Promise<RunningServer> {
  const standin = await ensureTinyStandin(output)
  const config = parseServeConfig([...tinyServeArgs(standin, 0, 'silent'), ...extraArgs], {})
  const server = await startServer(config, { log: () => {}, ...io })
  await server.ready
  return server
}
