import { encodePath, getHubJson, HubUnreachableError, isSafeRepoPath, type Hub, type HubFile, type HubRequestContext } from './hub.js'

export const HUGGING_FACE_ENDPOINT = 'https://huggingface.co'

/** Tree pages are capped (1000 entries); GGUF repos are far smaller, so this only guards a loop. */
const MAX_LISTING_PAGES = 20

interface TreeEntry {
  type?: string
  path?: string
  size?: number
  lfs?: { oid?: string; size?: number }
}

/**
 * Hugging Face, or any mirror of its API (`HF_ENDPOINT`, e.g. https://hf-mirror.com).
 * - listing: `GET {endpoint}/api/models/{repo}/tree/main?recursive=true` answers
 *   `[{ type: 'file', path, size, oid, lfs?: { oid: <sha256>, size } }]`, paged with a
 *   `Link: <…>; rel="next"` header (the same API huggingface_hub's `list_repo_tree` uses);
 * - file: `GET {endpoint}/{repo}/resolve/main/{path}`, which redirects LFS files to a CDN.
 * `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`) is sent as a Bearer token, to the
 * endpoint's origin only.
 */
export function createHuggingFaceHub(env: NodeJS.ProcessEnv): Hub {
  const endpoint = (env.HF_ENDPOINT?.trim() || HUGGING_FACE_ENDPOINT).replace(/\/+$/, '')
  const token = env.HF_TOKEN?.trim() || env.HUGGING_FACE_HUB_TOKEN?.trim()
  const hub: Hub = {
    source: 'huggingface',
    displayName: 'Hugging Face',
    endpoint,
    authorization: token ? `Bearer ${token}` : undefined,
    authHint: token
      ? 'If the repository is gated, accept its terms on the website with the account HF_TOKEN belongs to.'
      : 'If the repository is private or gated, set HF_TOKEN to an access token that may read it.',
    repoUrl: (repo) => `${endpoint}/${repo}`,
    listingUrl: (repo) => `${endpoint}/api/models/${repo}/tree/main?recursive=true`,
    fileUrl: (repo, path) => `${endpoint}/${repo}/resolve/main/${encodePath(path)}`,
    listFiles: (repo, context) => listTree(hub, repo, context),
  }
  return hub
}

async function listTree(hub: Hub, repo: string, context: HubRequestContext): Promise<HubFile[]> {
  const files: HubFile[] = []
  let url: string | undefined = hub.listingUrl(repo)
  for (let page = 0; url && page < MAX_LISTING_PAGES; page++) {
    const { body, response } = await getHubJson(hub, repo, url, context)
    if (!Array.isArray(body)) {
      throw new HubUnreachableError(`${hub.displayName} at ${hub.endpoint} sent a listing of ${repo} that is not a file list (GET ${url}).`, url)
    }
    for (const entry of body as TreeEntry[]) {
      if (entry.type !== 'file' || typeof entry.path !== 'string' || !isSafeRepoPath(entry.path)) continue
      const sha256 = typeof entry.lfs?.oid === 'string' && /^[0-9a-f]{64}$/i.test(entry.lfs.oid) ? entry.lfs.oid.toLowerCase() : undefined
      const size = typeof entry.lfs?.size === 'number' ? entry.lfs.size : typeof entry.size === 'number' ? entry.size : undefined
      files.push({ path: entry.path, size, sha256 })
    }
    url = nextPageUrl(response.headers.get('link'), url)
  }
  return files
}

function nextPageUrl(link: string | null, base: string): string | undefined {
  const match = link?.match(/<([^>]+)>\s*;\s*rel="?next"?/)
  return match?.[1] ? new URL(match[1], base).href : undefined
}
