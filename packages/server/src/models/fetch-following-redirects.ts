export interface FollowRedirectsOptions {
  headers?: Record<string, string>
  /** Sent only to the origin of the first URL: hubs redirect file downloads to CDNs with signed URLs. */
  authorization?: string | undefined
  signal?: AbortSignal | undefined
  maxRedirects?: number
}

export interface FollowedResponse {
  response: Response
  /** The URL that finally answered (after redirects). */
  url: string
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

/**
 * A GET that follows redirects itself so that the token never leaves the hub's origin
 * (fetch's own redirect handling would forward our Authorization header to the CDN on
 * some runtimes and strip it on others; doing it here makes the rule explicit and tested).
 */
export async function fetchFollowingRedirects(fetchImpl: typeof fetch, url: string, options: FollowRedirectsOptions = {}): Promise<FollowedResponse> {
  const authOrigin = new URL(url).origin
  const maxRedirects = options.maxRedirects ?? 10
  let current = url
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { ...options.headers }
    if (options.authorization && new URL(current).origin === authOrigin) headers.authorization = options.authorization
    const init: RequestInit = { headers, redirect: 'manual' }
    if (options.signal) init.signal = options.signal
    const response = await fetchImpl(current, init)
    if (!REDIRECT_STATUSES.has(response.status)) return { response, url: current }
    const location = response.headers.get('location')
    await response.body?.cancel().catch(() => undefined)
    if (!location) throw new Error(`${current} answered HTTP ${response.status} without a Location header`)
    if (hop >= maxRedirects) throw new Error(`Too many redirects starting at ${url}`)
    current = new URL(location, current).href
  }
}
