import { CliError, ExitCode } from '../cli-error.js'
import type { Command } from '../cli.js'

const command: Command = {
  summary: '(not implemented yet)',
  async run() {
    throw new CliError('bench is not implemented yet', ExitCode.Failure)
  },
}
export default command
