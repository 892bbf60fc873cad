// @ts-check
// The page's list of server-side batches: status, counts, a progress bar and download
// links for the results. Refreshes every few seconds while the list is open and a batch is
// still running, and redraws at once when the language changes.
import { onLanguageChange, t } from './i18n.js'
import { errorMessage } from './server-errors.js'

/**
 * What the page reads of a batch (GET /v1/batches).
 * @typedef {{ id: string, status: string, created_at: number, output_file_id?: string | null, error_file_id?: string | null,
 *   request_counts?: { total: number, completed: number, failed: number } }} Batch
 * @typedef {() => Record<string, string>} RequestHeaders the request headers, with the API key when set
 */

const REFRESH_MS = 3000
const ended = new Set(['completed', 'failed', 'cancelled', 'expired'])

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {Record<string, string>} [attributes] @param {...(Node | string)} children
 */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value)
  for (const child of children) node.append(child)
  return node
}

/**
 * Downloads through fetch so the API key header goes along (a plain link could not send it).
 * @param {string} fileId @param {string} filename @param {HTMLElement} notice @param {RequestHeaders} headers
 */
async function download(fileId, filename, notice, headers) {
  try {
    const response = await fetch(`/v1/files/${encodeURIComponent(fileId)}/content`, { headers: headers() })
    if (!response.ok) throw new Error(await errorMessage(response))
    const url = URL.createObjectURL(await response.blob())
    const link = el('a', { href: url, download: filename })
    document.body.append(link)
    link.click()
    link.remove()
    setTimeout(() => URL.revokeObjectURL(url), 10_000)
  } catch (error) {
    notice.textContent = t('batches.downloadFailed', { message: /** @type {Error} */ (error).message })
  }
}

/** @param {Batch} batch @param {HTMLElement} notice @param {RequestHeaders} headers */
function row(batch, notice, headers) {
  const counts = batch.request_counts ?? { total: 0, completed: 0, failed: 0 }
  const done = counts.completed + counts.failed
  const item = el('li', { class: 'batch', 'aria-label': t('batches.item', { id: batch.id }), 'data-status': batch.status })
  const created = new Date(batch.created_at * 1000).toLocaleString()
  item.append(
    // The status is the API's own word (what clients see), shown as sent.
    el('p', { class: 'batch-head' }, el('strong', { class: 'batch-status' }, batch.status), ` · ${created}`),
    el('progress', { max: String(Math.max(1, counts.total)), value: String(done), 'aria-label': t('batches.progress') }),
    el('p', { class: 'batch-counts muted' }, t('batches.counts', { completed: counts.completed, failed: counts.failed, total: counts.total })),
  )
  const links = el('p', { class: 'batch-links' })
  for (const [fileId, kind] of /** @type {const} */ ([
    [batch.output_file_id, 'results'],
    [batch.error_file_id, 'errors'],
  ])) {
    if (!fileId) continue
    const button = el('button', { type: 'button', class: 'ghost' }, t(`batches.download.${kind}`))
    button.addEventListener('click', () => download(fileId, `${batch.id}_${kind}.jsonl`, notice, headers))
    links.append(button)
  }
  if (links.childElementCount > 0) item.append(links)
  return item
}

/**
 * Adds the batch list to `container` (the settings column); `headers` carries the API key.
 * @param {Element | null} container @param {RequestHeaders} headers
 */
export function mountBatches(container, headers) {
  if (!container) return
  const list = el('ol', { id: 'batch-list', class: 'batch-list', 'aria-label': t('batches.title') })
  const notice = el('p', { class: 'muted', role: 'status' })
  const summary = el('summary', {}, t('batches.title'))
  const panel = el('details', { id: 'batches' }, summary, notice, list)
  container.append(panel)
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer
  /** @type {{ data: Batch[] } | { error: string } | undefined} */
  let last

  function draw() {
    summary.textContent = t('batches.title')
    list.setAttribute('aria-label', t('batches.title'))
    if (last === undefined) return
    if ('error' in last) {
      notice.textContent = t('batches.listFailed', { message: last.error })
      return
    }
    list.replaceChildren(...last.data.map((batch) => row(batch, notice, headers)))
    notice.textContent = last.data.length === 0 ? t('batches.empty') : ''
  }

  async function refresh() {
    clearTimeout(timer)
    if (!panel.open) return
    try {
      const response = await fetch('/v1/batches?limit=20', { headers: headers() })
      if (!response.ok) throw new Error(await errorMessage(response))
      const body = await response.json()
      last = { data: body.data }
      if (body.data.some((/** @type {Batch} */ batch) => !ended.has(batch.status))) timer = setTimeout(refresh, REFRESH_MS)
    } catch (error) {
      last = { error: /** @type {Error} */ (error).message }
    }
    draw()
  }
  panel.addEventListener('toggle', refresh)
  onLanguageChange(draw)
}
