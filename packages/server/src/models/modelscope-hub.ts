import { ModelNotFoundError } from './model-errors.js'
import { getHubJson, HubUnreachableError, isSafeRepoPath, type Hub, type HubFile, type HubRequestContext } from './hub.js'

/** The official SDK's default (modelscope/hub/constants.py: DEFAULT_MODELSCOPE_DOMAIN = 'www.modelscope.cn'). */
export const MODELSCOPE_ENDPOINT = 'https://www.modelscope.cn'

interface ModelScopeFile {
  Type?: string
  Path?: string
  Name?: string
  Size?: number | string
  Sha256?: string | null
}

/**
 * ModelScope (modelscope.cn), for users who cannot reach Hugging Face.
 * The paths are those of the official Python SDK (modelscope/hub/api.py `get_model_files`
 * and modelscope/hub/file_download.py `get_file_download_url`), not of a published spec:
 * - listing: `GET {endpoint}/api/v1/models/{repo}/repo/files?Revision=master&Recursive=true`
 *   answers `{ Code: 200, Data: { Files: [{ Type: 'blob' | 'tree', Path, Name, Size, Sha256 }] } }`;
 * - file: `GET {endpoint}/api/v1/models/{repo}/repo?Revision=master&FilePath={path}`.
 * Uncertain, not verified against the live service from here: whether every file carries
 * Sha256 (the SDK treats it as optional, so do we) and whether the file URL honours Range
 * (if it answers 200 we restart, which is correct, only slower). The endpoint is
 * `MODELSCOPE_ENDPOINT` (a full URL) or `MODELSCOPE_DOMAIN` (a host, as the SDK reads it).
 * Public models need no token, so none is sent.
 */
export function createModelScopeHub(env: NodeJS.ProcessEnv): Hub {
  const domain = env.MODELSCOPE_DOMAIN?.trim()
  const endpoint = (env.MODELSCOPE_ENDPOINT?.trim() || (domain ? `https://${domain}` : MODELSCOPE_ENDPOINT)).replace(/\/+$/, '')
  const hub: Hub = {
    source: 'modelscope',
    displayName: 'ModelScope',
    endpoint,
    authorization: undefined,
    authHint: 'If the repository is private, download its files in a browser and pass them with --model and --mmproj.',
    repoUrl: (repo) => `${endpoint}/models/${repo}`,
    listingUrl: (repo) => `${endpoint}/api/v1/models/${repo}/repo/files?Revision=master&Recursive=true`,
    fileUrl: (repo, path) => `${endpoint}/api/v1/models/${repo}/repo?Revision=master&FilePath=${encodeURIComponent(path)}`,
    listFiles: (repo, context) => listFiles(hub, repo, context),
  }
  return hub
}

async function listFiles(hub: Hub, repo: string, context: HubRequestContext): Promise<HubFile[]> {
  const { body } = await getHubJson(hub, repo, hub.listingUrl(repo), context)
  const data = body as { Code?: number; Message?: string; Data?: { Files?: ModelScopeFile[] } }
  if (data.Code !== undefined && data.Code !== 200) {
    // ModelScope answers HTTP 200 with its own Code for a missing repository.
    throw new ModelNotFoundError(
      `ModelScope could not list "${repo}": ${data.Message ?? `Code ${data.Code}`} (GET ${hub.listingUrl(repo)}).\nCheck the spelling (owner/repo, case matters).`,
    )
  }
  const entries = data.Data?.Files
  if (!Array.isArray(entries)) {
    throw new HubUnreachableError(`ModelScope's listing of ${repo} has no Data.Files (GET ${hub.listingUrl(repo)}).`, hub.listingUrl(repo))
  }
  const files: HubFile[] = []
  for (const entry of entries) {
    const path = entry.Path ?? entry.Name
    if (entry.Type === 'tree' || typeof path !== 'string' || !isSafeRepoPath(path)) continue
    const size = entry.Size === undefined || entry.Size === '' ? undefined : Number(entry.Size)
    const sha256 = typeof entry.Sha256 === 'string' && /^[0-9a-f]{64}$/i.test(entry.Sha256) ? entry.Sha256.toLowerCase() : undefined
    files.push({ path, size: Number.isFinite(size) ? size : undefined, sha256 })
  }
  return files
}
