import { fetchFollowingRedirects } from './fetch-following-redirects.js'
import { ModelNotFoundError, ModelUnavailableError } from './model-errors.js'

export type HubSourceName = 'huggingface' | 'modelscope'

/** One file in a hub repository, with what the hub publishes about it. */
export interface HubFile {
  /** Path inside the repository, `/`-separated. */
  path: string
  size: number | undefined
  /** Lowercase hex sha256, when the hub publishes it (Git LFS files on Hugging Face, most ModelScope files). */
  sha256: string | undefined
}

export interface HubRequestContext {
  fetch: typeof fetch
  signal?: AbortSignal | undefined
}

/** A model hub: how to list a repository and where each file downloads from. */
export interface Hub {
  readonly source: HubSourceName
  /** For messages: "Hugging Face", "ModelScope". */
  readonly displayName: string
  /** Base URL without a trailing slash (a mirror when configured). */
  readonly endpoint: string
  /** `Bearer …` for the hub's own origin, if a token is configured. */
  readonly authorization: string | undefined
  /** What to tell a user whose request was refused (401/403). */
  readonly authHint: string
  listingUrl(repo: string): string
  /** The repository's page, for people. */
  repoUrl(repo: string): string
  fileUrl(repo: string, path: string): string
  listFiles(repo: string, context: HubRequestContext): Promise<HubFile[]>
}

/** The hub could not be reached or answered something unusable; resolve turns this into the offline guidance. */
export class HubUnreachableError extends ModelUnavailableError {
  readonly url: string
  constructor(message: string, url: string, options?: { cause?: unknown }) {
    super(message, options)
    this.url = url
  }
}

/** GET a JSON document from a hub, mapping failures onto the errors users should see. */
export async function getHubJson(hub: Hub, repo: string, url: string, context: HubRequestContext): Promise<{ body: unknown; response: Response }> {
  let response: Response
  try {
    ;({ response } = await fetchFollowingRedirects(context.fetch, url, {
      headers: { accept: 'application/json' },
      authorization: hub.authorization,
      signal: context.signal,
    }))
  } catch (error) {
    if (context.signal?.aborted) throw error
    throw new HubUnreachableError(`Could not reach ${hub.displayName} at ${hub.endpoint} (${describeNetworkError(error)}).`, url, { cause: error })
  }
  if (response.status === 404 || response.status === 401 || response.status === 403) {
    await response.body?.cancel().catch(() => undefined)
    throw new ModelNotFoundError(
      `${hub.displayName} has no repository "${repo}" that we may read (GET ${url} answered HTTP ${response.status}).\n` +
        `Check the spelling (owner/repo, case matters). ${hub.authHint}`,
    )
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined)
    throw new HubUnreachableError(`${hub.displayName} answered HTTP ${response.status} to GET ${url}.`, url)
  }
  try {
    return { body: await response.json(), response }
  } catch (error) {
    throw new HubUnreachableError(`${hub.displayName} sent something that is not JSON in answer to GET ${url}.`, url, { cause: error })
  }
}

/** "ECONNREFUSED", "ENOTFOUND huggingface.co", "terminated": the useful part of undici's "fetch failed". */
export function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const cause = error.cause
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code
    return code ? `${code}: ${cause.message}` : cause.message
  }
  return error.message
}

/** Encodes each path segment but keeps the slashes: `a b/c.gguf` → `a%20b/c.gguf`. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}

/** Hub listings are untrusted input: a path must stay inside the repository's cache folder. */
export function isSafeRepoPath(path: string): boolean {
  if (path === '' || path.startsWith('/') || path.includes('\\') || path.includes('\0')) return false
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..')
}
