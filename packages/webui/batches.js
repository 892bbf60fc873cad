// The page's list of server-side batches: status, counts, a progress bar and download
// links for the results. Its own module, so the chat code stays as it is. Refreshes every
// few seconds while the list is open and a batch is still running.
const API_KEY_KEY = 'visto.apiKey'
const REFRESH_MS = 3000
const ended = new Set(['completed', 'failed', 'cancelled', 'expired'])

function headers() {
  const key = sessionStorage.getItem(API_KEY_KEY)?.trim()
  return key ? { Authorization: `Bearer ${key}` } : {}
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value)
  for (const child of children) node.append(child)
  return node
}

/** Downloads through fetch so the API key header goes along (a plain link could not send it). */
async function download(fileId, filename, notice) {
  try {
    const response = await fetch(`/v1/files/${encodeURIComponent(fileId)}/content`, { headers: headers() })
    if (!response.ok) throw new Error((await response.json()).error?.message ?? `HTTP ${response.status}`)
    const url = URL.createObjectURL(await response.blob())
    const link = el('a', { href: url, download: filename })
    document.body.append(link)
    link.click()
    link.remove()
    setTimeout(() => URL.revokeObjectURL(url), 10_000)
  } catch (error) {
    notice.textContent = `Download failed: ${error.message}`
  }
}

function row(batch, notice) {
  const counts = batch.request_counts ?? { total: 0, completed: 0, failed: 0 }
  const done = counts.completed + counts.failed
  const item = el('li', { class: 'batch', 'aria-label': `Batch ${batch.id}`, 'data-status': batch.status })
  const created = new Date(batch.created_at * 1000).toLocaleString()
  item.append(
    el('p', { class: 'batch-head' }, el('strong', { class: 'batch-status' }, batch.status), ` · ${created}`),
    el('progress', { max: String(Math.max(1, counts.total)), value: String(done), 'aria-label': 'Progress' }),
    el('p', { class: 'batch-counts muted' }, `${counts.completed} done, ${counts.failed} failed of ${counts.total}`),
  )
  const links = el('p', { class: 'batch-links' })
  for (const [fileId, label] of [
    [batch.output_file_id, 'results'],
    [batch.error_file_id, 'errors'],
  ]) {
    if (!fileId) continue
    const button = el('button', { type: 'button', class: 'ghost' }, `Download ${label}`)
    button.addEventListener('click', () => download(fileId, `${batch.id}_${label}.jsonl`, notice))
    links.append(button)
  }
  if (links.childElementCount > 0) item.append(links)
  return item
}

function mount() {
  const aside = document.querySelector('aside.settings')
  if (!aside) return
  const list = el('ol', { id: 'batch-list', class: 'batch-list', 'aria-label': 'Batches' })
  const notice = el('p', { class: 'muted', role: 'status' })
  const panel = el('details', { id: 'batches' }, el('summary', {}, 'Batches'), notice, list)
  aside.append(panel)
  let timer

  async function refresh() {
    clearTimeout(timer)
    if (!panel.open) return
    try {
      const response = await fetch('/v1/batches?limit=20', { headers: headers() })
      const body = await response.json()
      if (!response.ok) throw new Error(body.error?.message ?? `HTTP ${response.status}`)
      list.replaceChildren(...body.data.map((batch) => row(batch, notice)))
      notice.textContent = body.data.length === 0 ? 'No batches yet. Submit one with the Batch API or `visto batch … --server`.' : ''
      if (body.data.some((batch) => !ended.has(batch.status))) timer = setTimeout(refresh, REFRESH_MS)
    } catch (error) {
      notice.textContent = `Cannot list batches: ${error.message}`
    }
  }
  panel.addEventListener('toggle', refresh)
}

mount()
