/** Exit codes, documented in the README. */
export const ExitCode = {
  Ok: 0,
  /** The command ran but failed (request error, some batch items failed…). */
  Failure: 1,
  /** Bad flags or arguments. */
  Usage: 2,
  /** The server could not be reached. */
  Unreachable: 3,
} as const

/** An error whose message is meant for the user as-is, with a chosen exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.Failure,
  ) {
    super(message)
    this.name = 'CliError'
  }
}
