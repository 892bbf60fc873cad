/**
 * Errors from finding and fetching model files. They are not HTTP errors (they happen
 * before the server listens); the CLI prints the message as it is, so every message is
 * written to be read by a person and says what to do next.
 */
export class ModelError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
  }
}

/** The user named something that does not exist or cannot be used as it is (a path, a quant, an mmproj). */
export class ModelNotFoundError extends ModelError {}

/** More than one file could be meant; the message lists them and how to pick one. */
export class AmbiguousModelError extends ModelError {
  readonly candidates: readonly string[]
  constructor(message: string, candidates: readonly string[]) {
    super(message)
    this.candidates = candidates
  }
}

/** A file the hub describes could not be fetched: offline, unreachable, 404, refused. */
export class ModelUnavailableError extends ModelError {}

/** Bytes arrived but are not the file the hub describes (size or sha256 mismatch). */
export class ModelIntegrityError extends ModelError {}
