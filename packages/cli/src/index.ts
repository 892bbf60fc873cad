export { main } from './cli.js'
export { CliError, ExitCode } from './cli-error.js'
