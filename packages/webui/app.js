// The Visto chat page. Plain ES module, no build step: it speaks the same OpenAI-style
// HTTP API as every other client (POST /v1/chat/completions with stream: true), with
// fetch and the protocol package's SSE parser (the one the SDK and the engines use), so
// that Stop can abort the request directly.

import { readSseData } from '/protocol/sse.js'
import { curlCode, javascriptCode, pythonCode, turnMessage } from './code-export.js'
import { initialLanguage, label, language, seconds, setLanguage, t } from './i18n.js'
import { renderMarkdown } from './markdown.js'
import { mountBatches } from './batches.js'
import { mountStatus } from './status.js'

const FALLBACK_MODEL = 'qwen3-vl-4b-instruct'
const SETTINGS_KEY = 'visto.settings'
const API_KEY_KEY = 'visto.apiKey'

const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id))
const els = {
  modelName: byId('model-name'),
  health: byId('health'),
  language: /** @type {HTMLSelectElement} */ (byId('language')),
  showCode: /** @type {HTMLButtonElement} */ (byId('show-code')),
  newChat: /** @type {HTMLButtonElement} */ (byId('new-chat')),
  chat: byId('chat'),
  emptyHint: byId('empty-hint'),
  messages: byId('messages'),
  temperature: /** @type {HTMLInputElement} */ (byId('temperature')),
  temperatureValue: /** @type {HTMLOutputElement} */ (byId('temperature-value')),
  maxTokens: /** @type {HTMLInputElement} */ (byId('max-tokens')),
  apiKey: /** @type {HTMLInputElement} */ (byId('api-key')),
  composer: /** @type {HTMLFormElement} */ (byId('composer')),
  attachments: byId('attachments'),
  notice: byId('notice'),
  estimate: byId('estimate'),
  fileInput: /** @type {HTMLInputElement} */ (byId('file-input')),
  question: /** @type {HTMLTextAreaElement} */ (byId('question')),
  ocr: /** @type {HTMLButtonElement} */ (byId('ocr')),
  send: /** @type {HTMLButtonElement} */ (byId('send')),
  stop: /** @type {HTMLButtonElement} */ (byId('stop')),
  dropOverlay: byId('drop-overlay'),
  codeDialog: /** @type {HTMLDialogElement} */ (byId('code-dialog')),
  closeCode: /** @type {HTMLButtonElement} */ (byId('close-code')),
  codeTabs: [...document.querySelectorAll('.code-tabs [role="tab"]')].map((tab) => /** @type {HTMLButtonElement} */ (tab)),
  codePanel: byId('code-panel'),
  codeText: byId('code-text'),
  copyCode: /** @type {HTMLButtonElement} */ (byId('copy-code')),
}

/**
 * @typedef {{ number: number, width: number, height: number, promptTokens: number, thumbnail: string }} DocumentPage
 * @typedef {{ width: number, height: number, promptTokens: number } | { pageCount: number, pages: DocumentPage[], promptTokens: number }
 *   | { error: string } | { unavailable: true }} ImageCost
 * @typedef {{ kind: 'image' | 'document', name: string, mime: string, dataUrl: string, detail: 'low' | 'auto' | 'high',
 *   size: { width: number, height: number } | null, costs: Partial<Record<string, ImageCost>> }} Attachment
 * @typedef {{ role: 'user' | 'assistant', text: string, images: Attachment[] }} Turn
 */

const state = {
  /** The finished turns, sent again with every question (and shown as code). */
  turns: /** @type {Turn[]} */ ([]),
  /** Images waiting to be sent with the next question. */
  attachments: /** @type {Attachment[]} */ ([]),
  model: /** @type {string | null} */ (null),
  controller: /** @type {AbortController | null} */ (null),
  /** Numbers the question/answer pairs on screen. */
  asked: 0,
  /** The server's recent prompt speed (tokens/s), null when it has none to tell. */
  promptSpeed: /** @type {number | null} */ (null),
  codeLanguage: 'python',
}

// ---------------------------------------------------------------- settings

function loadSettings() {
  try {
    const saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}')
    if (typeof saved.temperature === 'number') els.temperature.value = String(saved.temperature)
    if (typeof saved.maxTokens === 'number') els.maxTokens.value = String(saved.maxTokens)
    // The key lives only as long as the tab: it is a secret, the rest is preference.
    els.apiKey.value = sessionStorage.getItem(API_KEY_KEY) ?? ''
  } catch {
    // Storage can be disabled (private mode, file policies); defaults are fine.
  }
  showTemperature()
}

function saveSettings() {
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ temperature: temperature(), maxTokens: maxTokens() }))
    sessionStorage.setItem(API_KEY_KEY, els.apiKey.value.trim())
  } catch {
    // See loadSettings.
  }
}

function temperature() {
  const value = Number(els.temperature.value)
  return Number.isFinite(value) ? value : 0.3
}

function maxTokens() {
  const value = Math.round(Number(els.maxTokens.value))
  return Number.isFinite(value) && value > 0 ? value : 1024
}

function showTemperature() {
  els.temperatureValue.value = temperature().toFixed(2)
}

function headers() {
  /** @type {Record<string, string>} */
  const result = { 'content-type': 'application/json' }
  const key = els.apiKey.value.trim()
  if (key) result.authorization = `Bearer ${key}`
  return result
}

function defaultQuestion() {
  return t('composer.defaultQuestion')
}

// ---------------------------------------------------------------- server state

/** The server answers errors as {"error": {"message", ...}}; fall back to the raw text. */
async function errorMessage(response) {
  const text = await response.text().catch(() => '')
  try {
    const message = JSON.parse(text)?.error?.message
    if (typeof message === 'string' && message) return message
  } catch {
    // Not JSON (a proxy's HTML page, say): show it as it came.
  }
  return text.trim().slice(0, 500) || `HTTP ${response.status} ${response.statusText}`
}

async function loadModel() {
  try {
    const response = await fetch('/v1/models', { headers: headers() })
    if (!response.ok) {
      els.modelName.textContent = t('model.unknown')
      if (response.status === 401) {
        showNotice('notice.needKey', 'error')
        els.apiKey.focus()
      } else {
        showNotice('notice.modelsFailed', 'error', { message: await errorMessage(response) })
      }
      return
    }
    const body = await response.json()
    const id = body?.data?.[0]?.id
    state.model = typeof id === 'string' ? id : null
    els.modelName.textContent = state.model ?? t('model.none')
    if (notice.key === 'notice.needKey') showNotice('')
    void refreshCosts()
  } catch {
    els.modelName.textContent = t('model.unknown')
  }
}

/** @type {{ kind: string, key: string, values?: Record<string, unknown>, title?: () => string }} */
let health = { kind: 'unknown', key: 'health.connecting' }

/** `title` is a function so that a language switch re-translates it too. */
function setHealth(kind, key, values = {}, title = () => '') {
  health = { kind, key, values, title }
  showHealth()
}

function showHealth() {
  els.health.dataset.state = health.kind
  els.health.textContent = t(health.key, health.values)
  els.health.title = health.title?.() ?? ''
}

async function pollHealth() {
  let nextPollMs = 15_000
  try {
    const response = await fetch('/health', { cache: 'no-store' })
    const body = await response.json().catch(() => ({}))
    if (response.ok) {
      setHealth('ready', 'health.ready', {}, () => t('health.readyTitle', { running: body.running ?? 0, queued: body.queued ?? 0 }))
      if (state.model === null) void loadModel()
    } else if (body.status === 'loading') {
      const percent = typeof body.progress === 'number' ? `${Math.round(body.progress * 100)}%` : '…'
      setHealth('loading', 'health.loading', { percent }, () => body.message ?? '')
      nextPollMs = 1_000
    } else {
      setHealth('unavailable', 'health.unavailable', {}, () => body.message ?? `HTTP ${response.status}`)
      nextPollMs = 3_000
    }
  } catch {
    setHealth('offline', 'health.offline', {}, () => t('health.offlineTitle'))
    nextPollMs = 3_000
  }
  setTimeout(pollHealth, nextPollMs)
}

/** The server's measured prompt speed; servers without the endpoint simply show no estimate. */
async function loadPromptSpeed() {
  try {
    const response = await fetch('/v1/visto/stats', { headers: headers(), cache: 'no-store' })
    const speed = response.ok ? (await response.json())?.prompt_tokens_per_second : null
    state.promptSpeed = typeof speed === 'number' && Number.isFinite(speed) && speed > 0 ? speed : null
  } catch {
    state.promptSpeed = null
  }
  showEstimate()
}

// ---------------------------------------------------------------- cost and wait estimates

/** The EXIF-oriented size, as the server will see it; null if the browser cannot decode it. */
async function imageSize(file) {
  try {
    const bitmap = await createImageBitmap(file)
    const size = { width: bitmap.width, height: bitmap.height }
    bitmap.close()
    return size
  } catch {
    return null
  }
}

/** Asks the server what an image costs at its current detail level (the server's rule, not a copy). */
async function fetchCost(attachment) {
  if (attachment.kind === 'document') return fetchDocumentPreview(attachment)
  const detail = attachment.detail
  if (!attachment.size || attachment.costs[detail]) return
  try {
    const response = await fetch('/v1/visto/image-cost', {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ images: [{ ...attachment.size, detail }] }),
    })
    const figure = response.ok ? (await response.json())?.data?.[0] : undefined
    if (typeof figure?.error === 'string') attachment.costs[detail] = { error: figure.error }
    else if (typeof figure?.prompt_tokens === 'number') attachment.costs[detail] = { width: figure.width, height: figure.height, promptTokens: figure.prompt_tokens }
    else attachment.costs[detail] = { unavailable: true }
  } catch {
    // No figure is better than a wrong one; the image still sends.
    attachment.costs[detail] = { unavailable: true }
  }
}

/** Each page's text marker ("Page 2 of 12:"), which the server counts with the text. */
function markerTokens(pageCount) {
  return Math.ceil(`Page ${pageCount} of ${pageCount}:`.length / 4)
}

/**
 * Asks the server how it will read a PDF at the current detail level: its pages, what
 * each costs and a thumbnail of each, or the 400 a question with it would get.
 */
async function fetchDocumentPreview(attachment) {
  const detail = attachment.detail
  if (attachment.costs[detail]) return
  try {
    const response = await fetch('/v1/visto/document-preview', {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ file_data: attachment.dataUrl, filename: attachment.name, detail }),
    })
    if (response.status === 400 || response.status === 413) {
      attachment.costs[detail] = { error: await errorMessage(response) }
      return
    }
    const preview = response.ok ? await response.json() : undefined
    if (!Array.isArray(preview?.pages) || typeof preview?.prompt_tokens !== 'number') {
      attachment.costs[detail] = { unavailable: true }
      return
    }
    const pages = preview.pages.map((page) => ({
      number: page.number,
      width: page.width,
      height: page.height,
      promptTokens: page.prompt_tokens,
      // Only ever an image: anything else the server might send is not shown.
      thumbnail: typeof page.thumbnail === 'string' && page.thumbnail.startsWith('data:image/jpeg;base64,') ? page.thumbnail : NO_PREVIEW,
    }))
    attachment.costs[detail] = { pageCount: preview.page_count, pages, promptTokens: preview.prompt_tokens + pages.length * markerTokens(preview.page_count) }
  } catch {
    // No figure is better than a wrong one; the document still sends.
    attachment.costs[detail] = { unavailable: true }
  }
}

/** Asks again for every figure the server could not give (say, before the API key was entered). */
async function refreshCosts() {
  for (const attachment of state.attachments) {
    for (const [detail, cost] of Object.entries(attachment.costs)) if (cost && 'unavailable' in cost) delete attachment.costs[detail]
  }
  await Promise.all(state.attachments.map(fetchCost))
  renderAttachments()
}

/** Rough text tokens: about one per CJK character, one per four other characters, plus the chat template. */
function estimateTextTokens(text) {
  const cjk = (text.match(/[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]/g) ?? []).length
  return cjk + Math.ceil((text.length - cjk) / 4) + 10
}

/**
 * Prompt tokens the next question adds. Earlier turns are left out: the engine keeps the
 * conversation's prefix cached, so a follow-up only processes what is new.
 * @returns {number | null} null while an image's cost is unknown
 */
function pendingPromptTokens(question, images) {
  let tokens = estimateTextTokens(question)
  for (const image of images) {
    const cost = image.costs[image.detail]
    if (!cost || !('promptTokens' in cost)) return null
    tokens += cost.promptTokens
  }
  return tokens
}

/** @returns {{ ms: number, tokens: number } | null} */
function estimateFirstToken(question, images) {
  if (state.promptSpeed === null) return null
  const tokens = pendingPromptTokens(question, images)
  if (tokens === null) return null
  return { ms: (tokens / state.promptSpeed) * 1000, tokens }
}

function showEstimate() {
  const hasInput = state.attachments.length > 0 || els.question.value.trim() !== ''
  const estimate = hasInput ? estimateFirstToken(els.question.value.trim() || defaultQuestion(), state.attachments) : null
  els.estimate.hidden = estimate === null
  if (estimate) {
    els.estimate.textContent = t('composer.estimate', { seconds: seconds(estimate.ms), tokens: estimate.tokens, speed: state.promptSpeed?.toFixed(1) })
  }
}

// ---------------------------------------------------------------- attachments

/** @type {{ key: string, values?: Record<string, unknown>, kind: string }} */
let notice = { key: '', kind: 'info' }

/** Shows a page string by key, so a language switch re-translates it; '' clears. */
function showNotice(key, kind = 'info', values = {}) {
  notice = { key, values, kind }
  renderNotice()
}

function renderNotice() {
  els.notice.textContent = notice.key ? t(notice.key, notice.values) : ''
  els.notice.dataset.kind = notice.kind
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader()
    reader.onload = () => resolve(/** @type {string} */ (reader.result))
    reader.onerror = () => reject(reader.error ?? new Error(file.name))
    reader.readAsDataURL(file)
  })
}

let adding = Promise.resolve()

const isPdf = (file) => file.type === 'application/pdf' || (!file.type && /\.pdf$/i.test(file.name))

/** Adds image and PDF files (from the picker, a drop or a paste), in the order they came. */
function addFiles(files) {
  adding = adding.then(() => readFiles(files))
  return adding
}

/** Only a first sieve on the declared type: the server checks the bytes. */
async function readFiles(files) {
  const skipped = []
  const added = []
  for (const file of files) {
    // An empty type is common for .bmp and friends on some systems: let the server judge.
    const pdf = isPdf(file)
    if (file.type && !file.type.startsWith('image/') && !pdf) {
      skipped.push(file.name)
      continue
    }
    try {
      /** @type {Attachment} */
      const attachment = pdf
        ? { kind: 'document', name: file.name || 'document.pdf', mime: 'application/pdf', dataUrl: await readAsDataUrl(file), detail: 'auto', size: null, costs: {} }
        : {
            kind: 'image',
            name: file.name || 'image.png',
            mime: file.type || 'image/jpeg',
            dataUrl: await readAsDataUrl(file),
            detail: 'auto',
            size: await imageSize(file),
            costs: {},
          }
      state.attachments.push(attachment)
      added.push(attachment)
    } catch (error) {
      skipped.push(`${file.name} (${t('notice.unreadable')})`)
    }
  }
  if (skipped.length) showNotice('notice.notAttached', 'error', { names: skipped.join(', ') })
  renderAttachments()
  await Promise.all(added.map(fetchCost))
  renderAttachments()
}

const NO_PREVIEW =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="72" height="72" viewBox="0 0 72 72"><rect width="72" height="72" fill="#9aa1ac" opacity=".25"/>' +
      '<text x="36" y="40" font-family="sans-serif" font-size="22" text-anchor="middle" fill="#6b7280">?</text></svg>',
  )

const PDF_ICON =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="72" height="72" viewBox="0 0 72 72"><rect width="72" height="72" fill="#9aa1ac" opacity=".25"/>' +
      '<text x="36" y="42" font-family="sans-serif" font-size="18" font-weight="bold" text-anchor="middle" fill="#6b7280">PDF</text></svg>',
  )

/** What stands for an attachment: the image itself, or a document's first page once the server has drawn it. */
function thumbnail(image) {
  const img = document.createElement('img')
  if (image.kind === 'document') {
    const preview = Object.values(image.costs).find((cost) => cost && 'pages' in cost && cost.pages.length > 0)
    img.src = preview && 'pages' in preview ? preview.pages[0].thumbnail : PDF_ICON
  } else {
    img.src = image.dataUrl
  }
  img.alt = image.name
  img.decoding = 'async'
  // A file the browser cannot show may still be one the server can read (or explain why not).
  img.addEventListener(
    'error',
    () => {
      img.classList.add('broken')
      img.src = NO_PREVIEW
    },
    { once: true },
  )
  return img
}

function costText(image) {
  if (image.kind === 'document') {
    const cost = image.costs[image.detail]
    if (!cost) return { text: t('attachment.measuring'), title: '' }
    if ('unavailable' in cost) return { text: t('attachment.document'), title: '' }
    if ('error' in cost) return { text: t('attachment.refused', { reason: cost.error }), title: cost.error, refused: true }
    if (!('pages' in cost)) return { text: '', title: '' }
    const values = { pages: cost.pages.length, pageCount: cost.pageCount, tokens: cost.promptTokens }
    return { text: t('document.cost', values), title: t('document.costTitle', values) }
  }
  if (!image.size) return { text: t('attachment.unknownSize'), title: '' }
  const cost = image.costs[image.detail]
  if (!cost) return { text: t('attachment.measuring'), title: '' }
  // A server without the cost endpoint: the original size is all there is to tell.
  if ('unavailable' in cost) return { text: `${image.size.width}×${image.size.height}`, title: '' }
  if ('error' in cost) return { text: t('attachment.refused', { reason: cost.error }), title: cost.error, refused: true }
  const values = { width: cost.width, height: cost.height, tokens: cost.promptTokens }
  return { text: t('attachment.cost', values), title: t('attachment.costTitle', values) }
}

/** A document's pages as the server will send them: each page's thumbnail and what it costs. */
function pageStrip(image) {
  const strip = document.createElement('ol')
  strip.className = 'pages'
  strip.setAttribute('aria-label', t('document.pages', { name: image.name }))
  const cost = image.costs[image.detail]
  if (!cost || !('pages' in cost)) return strip
  strip.append(
    ...cost.pages.map((page) => {
      const item = document.createElement('li')
      item.className = 'page'
      const values = { number: page.number, pageCount: cost.pageCount, tokens: page.promptTokens, width: page.width, height: page.height }
      item.title = t('document.pageTitle', values)
      const img = document.createElement('img')
      img.src = page.thumbnail
      img.alt = t('document.page', values)
      img.decoding = 'async'
      const caption = document.createElement('span')
      caption.className = 'page-cost'
      caption.textContent = t('document.pageCost', values)
      item.append(img, caption)
      return item
    }),
  )
  return strip
}

function renderAttachments() {
  const focused = document.activeElement instanceof HTMLElement && els.attachments.contains(document.activeElement) ? document.activeElement.dataset.focusKey : undefined
  els.attachments.replaceChildren(
    ...state.attachments.map((image, index) => {
      const item = document.createElement('li')
      item.className = 'attachment'
      item.title = image.name
      const remove = document.createElement('button')
      remove.type = 'button'
      remove.className = 'remove'
      remove.textContent = '×'
      remove.dataset.focusKey = `remove-${index}`
      remove.setAttribute('aria-label', t('attachment.remove', { name: image.name }))
      remove.addEventListener('click', () => {
        state.attachments.splice(index, 1)
        renderAttachments()
        els.question.focus()
      })

      const detail = document.createElement('select')
      detail.className = 'detail'
      detail.dataset.focusKey = `detail-${index}`
      detail.setAttribute('aria-label', t('attachment.detail', { name: image.name }))
      for (const level of ['low', 'auto', 'high']) {
        const option = document.createElement('option')
        option.value = level
        option.textContent = t(`attachment.detail.${level}`)
        option.selected = image.detail === level
        detail.append(option)
      }
      detail.addEventListener('change', async () => {
        image.detail = /** @type {'low' | 'auto' | 'high'} */ (detail.value)
        renderAttachments()
        await fetchCost(image)
        renderAttachments()
      })

      const cost = document.createElement('p')
      cost.className = 'cost'
      const figure = costText(image)
      cost.textContent = figure.text
      cost.title = figure.title
      if (figure.refused) cost.dataset.kind = 'error'

      const picture = document.createElement('div')
      picture.className = 'picture'
      picture.append(thumbnail(image), remove)
      item.append(picture, detail, cost)
      if (image.kind === 'document') {
        item.classList.add('document')
        const name = document.createElement('p')
        name.className = 'name'
        name.textContent = image.name
        item.append(name, pageStrip(image))
      }
      return item
    }),
  )
  if (focused) /** @type {HTMLElement | null} */ (els.attachments.querySelector(`[data-focus-key="${focused}"]`))?.focus()
  showEstimate()
}

// ---------------------------------------------------------------- conversation view

function scrollToEnd() {
  els.chat.scrollTop = els.chat.scrollHeight
}

/** Copies text, with a fallback for pages served over plain http on another host (no Clipboard API there). */
async function copyText(text, button) {
  let ok = false
  try {
    await navigator.clipboard.writeText(text)
    ok = true
  } catch {
    const area = document.createElement('textarea')
    area.value = text
    area.setAttribute('readonly', '')
    area.className = 'visually-hidden'
    document.body.append(area)
    area.select()
    try {
      ok = document.execCommand('copy')
    } catch {
      ok = false
    }
    area.remove()
  }
  const original = button.textContent
  button.textContent = ok ? t('notice.copied') : t('notice.copyFailed')
  button.dataset.copied = String(ok)
  setTimeout(() => {
    button.textContent = original
    delete button.dataset.copied
  }, 1500)
}

/** A code or text block under a caption, with its own copy button. */
function copyableBlock(text, caption, buttonLabel, className = 'code-block') {
  const block = document.createElement('figure')
  block.className = className
  const head = document.createElement('figcaption')
  const name = document.createElement('span')
  name.textContent = caption
  const copy = document.createElement('button')
  copy.type = 'button'
  copy.className = 'copy'
  copy.textContent = buttonLabel
  copy.addEventListener('click', () => copyText(text, copy))
  head.append(name, copy)
  const pre = document.createElement('pre')
  pre.tabIndex = 0
  const code = document.createElement('code')
  code.textContent = text
  pre.append(code)
  block.append(head, pre)
  return block
}

function renderAnswer(container, text, kind) {
  // Models often open with a space or newline; the history keeps it, the eye needs not.
  const trimmed = text.trimStart()
  if (kind === 'ocr') {
    container.replaceChildren(copyableBlock(trimmed.replace(/^```\w*\n([\s\S]*?)(\n```\s*)?$/, '$1'), t('message.ocrText'), t('message.copyText'), 'code-block ocr-block'))
  } else {
    container.replaceChildren(renderMarkdown(trimmed, { codeBlock: (code, lang) => copyableBlock(code, lang, t('message.copyCode')) }))
  }
}

function userBubble(turn, question, images) {
  const item = document.createElement('li')
  item.className = 'message user'
  label(item, 'aria-label', 'message.question', { turn })
  if (images.length) {
    const strip = document.createElement('div')
    strip.className = 'images'
    strip.append(...images.map(thumbnail))
    item.append(strip)
  }
  const text = document.createElement('p')
  text.className = 'text'
  text.textContent = question
  item.append(text)
  els.messages.append(item)
  return item
}

function answerBubble(turn, kind) {
  const item = document.createElement('li')
  item.className = 'message assistant pending'
  label(item, 'aria-label', 'message.answer', { turn })
  item.setAttribute('aria-busy', 'true')
  const text = document.createElement('div')
  text.className = 'text'
  const meta = document.createElement('p')
  meta.className = 'meta'
  label(meta, 'aria-label', 'message.stats')
  meta.textContent = t('message.thinking')
  item.append(text, meta)
  els.messages.append(item)

  let latest = ''
  let frame = 0
  const finish = () => {
    cancelAnimationFrame(frame)
    frame = 0
    item.classList.remove('pending')
    item.setAttribute('aria-busy', 'false')
  }
  return {
    item,
    setText(value) {
      latest = value
      // Re-rendering Markdown per token is wasted work; once per frame is smooth enough.
      if (frame) return
      frame = requestAnimationFrame(() => {
        frame = 0
        const nearEnd = els.chat.scrollHeight - els.chat.scrollTop - els.chat.clientHeight < 120
        renderAnswer(text, latest, kind)
        if (nearEnd) scrollToEnd()
      })
    },
    done({ elapsedMs, firstTokenMs, estimatedMs, usage, finishReason, stopped }) {
      finish()
      renderAnswer(text, latest, kind)
      const parts = [seconds(elapsedMs)]
      if (firstTokenMs !== null) {
        parts.push(t('message.firstToken', { seconds: seconds(firstTokenMs) }) + (estimatedMs !== null ? t('message.estimated', { seconds: seconds(estimatedMs) }) : ''))
      }
      if (usage) {
        parts.push(t('message.usage', { prompt: usage.prompt_tokens, completion: usage.completion_tokens, total: usage.total_tokens }))
        // Decode speed: the tokens after the first, over the time after the first.
        const generatingMs = elapsedMs - (firstTokenMs ?? elapsedMs)
        if (usage.completion_tokens > 1 && generatingMs > 0) parts.push(t('message.speed', { speed: ((usage.completion_tokens - 1) / (generatingMs / 1000)).toFixed(1) }))
      }
      if (stopped) parts.push(t('message.stopped'))
      meta.textContent = parts.join(' · ')
      if (finishReason === 'length') {
        const warning = document.createElement('span')
        warning.className = 'warning'
        warning.textContent = t('message.cutShort')
        meta.append(warning)
      }
      if (!latest.trim()) {
        const empty = document.createElement('p')
        empty.className = 'muted'
        empty.textContent = stopped ? t('message.stoppedEmpty') : t('message.emptyAnswer')
        text.replaceChildren(empty)
      }
    },
    fail(message, elapsedMs, retry) {
      finish()
      if (latest) renderAnswer(text, latest, kind)
      item.classList.add('failed')
      const alert = document.createElement('div')
      alert.className = 'error'
      alert.setAttribute('role', 'alert')
      const words = document.createElement('span')
      words.textContent = message
      alert.append(words)
      const again = document.createElement('button')
      again.type = 'button'
      again.className = 'retry'
      again.dataset.i18n = 'message.retry'
      again.textContent = t('message.retry')
      again.addEventListener('click', retry)
      item.insertBefore(alert, meta)
      item.insertBefore(again, meta)
      meta.textContent = t('message.failedAfter', { seconds: seconds(elapsedMs) })
      scrollToEnd()
      return again
    },
  }
}

// ---------------------------------------------------------------- streaming

class ServerError extends Error {}

function setBusy(busy) {
  els.send.disabled = busy
  els.ocr.disabled = busy
  els.stop.hidden = !busy
  els.composer.setAttribute('aria-busy', String(busy))
}

/** @param {Turn} turn */
function toMessage(turn) {
  return turnMessage(turn, (image) => ({ url: image.dataUrl, filename: image.name }))
}

/** Takes the composer's question and images and asks; `kind` 'ocr' asks for the text in them. */
function askFromComposer(kind = 'chat') {
  if (state.controller) return
  const typed = els.question.value.trim()
  const hasHistoryImages = state.turns.some((turn) => turn.images.length > 0)
  if (kind === 'ocr' && state.attachments.length === 0 && !hasHistoryImages) {
    showNotice('notice.ocrNeedsImage', 'error')
    return
  }
  if (kind === 'chat' && !typed && state.attachments.length === 0) {
    showNotice('notice.empty', 'error')
    els.question.focus()
    return
  }
  const images = state.attachments.splice(0)
  const question = kind === 'ocr' ? t('composer.ocrQuestion') : typed || defaultQuestion()
  els.question.value = kind === 'ocr' ? typed : ''
  showNotice('')
  renderAttachments()
  void ask(question, images, kind, typed)
}

/**
 * Sends one question with the conversation so far and streams the answer in.
 * @param {string} question @param {Attachment[]} images @param {'chat' | 'ocr'} kind
 * @param {string} typed what was in the question box, handed back if the request fails
 */
async function ask(question, images, kind, typed) {
  /** @type {Turn} */
  const userTurn = { role: 'user', text: question, images }
  const turn = ++state.asked
  els.emptyHint.hidden = true
  const userView = userBubble(turn, question, images)
  const answer = answerBubble(turn, kind)
  scrollToEnd()

  const estimate = estimateFirstToken(question, images)
  const controller = new AbortController()
  state.controller = controller
  setBusy(true)
  const started = performance.now()
  /** @type {number | null} */
  let firstTokenMs = null
  let text = ''
  let usage = null
  let finishReason = null
  let sawDone = false
  try {
    const response = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({
        model: state.model ?? FALLBACK_MODEL,
        messages: [...state.turns, userTurn].map(toMessage),
        stream: true,
        stream_options: { include_usage: true },
        temperature: temperature(),
        max_tokens: maxTokens(),
      }),
      signal: controller.signal,
    })
    if (!response.ok) throw new ServerError(await errorMessage(response))
    if (!response.body) throw new ServerError(t('error.noBody'))
    for await (const data of readSseData(response.body)) {
      if (data === '[DONE]') {
        sawDone = true
        break
      }
      const chunk = JSON.parse(data)
      // After the headers are out, the server reports failures as an error event.
      if (chunk.error) throw new ServerError(chunk.error.message ?? t('error.serverError'))
      const choice = chunk.choices?.[0]
      const delta = choice?.delta?.content
      if (typeof delta === 'string' && delta) {
        firstTokenMs ??= performance.now() - started
        text += delta
        answer.setText(text)
      }
      if (choice?.finish_reason) finishReason = choice.finish_reason
      if (chunk.usage) usage = chunk.usage
    }
    if (!sawDone && finishReason === null) throw new ServerError(t('error.closedEarly'))
    state.turns.push(userTurn, { role: 'assistant', text, images: [] })
    answer.done({ elapsedMs: performance.now() - started, firstTokenMs, estimatedMs: estimate?.ms ?? null, usage, finishReason, stopped: false })
    void loadPromptSpeed()
  } catch (error) {
    const elapsedMs = performance.now() - started
    if (controller.signal.aborted) {
      // Keep what arrived: the next question can build on a partial answer.
      if (text) state.turns.push(userTurn, { role: 'assistant', text, images: [] })
      answer.done({ elapsedMs, firstTokenMs, estimatedMs: estimate?.ms ?? null, usage, finishReason, stopped: true })
    } else {
      const message = error instanceof ServerError ? error.message : t('error.unreachable', { message: error instanceof Error ? error.message : String(error) })
      userView.classList.add('failed')
      // The failed turn stays out of the history. The question and images go back to the
      // composer to fix and resend; Retry sends them again as they were.
      if (!els.question.value && kind === 'chat') els.question.value = typed
      state.attachments.unshift(...images)
      renderAttachments()
      const retryButton = answer.fail(message, elapsedMs, () => {
        if (state.controller) return
        if (els.question.value === typed && kind === 'chat') els.question.value = ''
        state.attachments = state.attachments.filter((image) => !images.includes(image))
        renderAttachments()
        retryButton.remove()
        void ask(question, images, kind, typed)
      })
      // The composer grew with the returned images; keep the error in view.
      scrollToEnd()
    }
  } finally {
    state.controller = null
    setBusy(false)
    if (els.codeDialog.open) showCode()
  }
}

function newChat() {
  state.controller?.abort()
  state.turns = []
  state.attachments = []
  state.asked = 0
  els.messages.replaceChildren()
  els.emptyHint.hidden = false
  els.question.value = ''
  showNotice('')
  renderAttachments()
  els.question.focus()
}

// ---------------------------------------------------------------- code for this conversation

const generators = { python: pythonCode, curl: curlCode, javascript: javascriptCode }

/**
 * The request that would come next: the finished turns plus what is in the composer, or,
 * with an empty composer, the request that produced the last answer.
 */
function turnsForCode() {
  const typed = els.question.value.trim()
  if (!typed && state.attachments.length === 0) return state.turns.slice(0, -1)
  return [...state.turns, { role: 'user', text: typed || defaultQuestion(), images: state.attachments }]
}

function showCode() {
  const turns = turnsForCode()
  for (const tab of els.codeTabs) {
    const selected = tab.dataset.language === state.codeLanguage
    tab.setAttribute('aria-selected', String(selected))
    tab.tabIndex = selected ? 0 : -1
    if (selected) els.codePanel.setAttribute('aria-labelledby', tab.id)
  }
  const tabName = els.codeTabs.find((tab) => tab.dataset.language === state.codeLanguage)?.textContent ?? ''
  els.copyCode.textContent = t('code.copy', { language: tabName })
  els.copyCode.hidden = turns.length === 0
  if (turns.length === 0) {
    els.codeText.textContent = t('code.empty')
    return
  }
  const target = {
    baseUrl: location.origin,
    model: state.model ?? FALLBACK_MODEL,
    temperature: temperature(),
    maxTokens: maxTokens(),
    needsKey: els.apiKey.value.trim() !== '',
  }
  els.codeText.textContent = generators[state.codeLanguage](turns, target)
}

// ---------------------------------------------------------------- wiring

els.composer.addEventListener('submit', (event) => {
  event.preventDefault()
  askFromComposer('chat')
})
els.ocr.addEventListener('click', () => askFromComposer('ocr'))
els.question.addEventListener('keydown', (event) => {
  // Enter sends, Shift+Enter breaks the line; never while an IME (pinyin) is composing.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault()
    els.composer.requestSubmit()
  }
})
els.question.addEventListener('input', showEstimate)
document.addEventListener('keydown', (event) => {
  // Escape stops a running answer from anywhere on the page (the dialog takes it first when open).
  if (event.key === 'Escape' && state.controller && !els.codeDialog.open) {
    state.controller.abort()
    els.question.focus()
  }
})
els.stop.addEventListener('click', () => {
  state.controller?.abort()
  els.question.focus()
})
els.newChat.addEventListener('click', newChat)
els.fileInput.addEventListener('change', () => {
  const files = [...(els.fileInput.files ?? [])]
  els.fileInput.value = ''
  void addFiles(files)
})
els.temperature.addEventListener('input', () => {
  showTemperature()
  saveSettings()
})
els.maxTokens.addEventListener('change', saveSettings)
els.apiKey.addEventListener('change', () => {
  saveSettings()
  void loadModel()
  void loadPromptSpeed()
})

els.language.addEventListener('change', () => {
  setLanguage(els.language.value)
  retranslate()
})

/** Parts of the page built from JS keep their values; only their words change. */
function retranslate() {
  showHealth()
  renderNotice()
  renderAttachments()
  if (state.model === null) els.modelName.textContent = '…'
  if (els.codeDialog.open) showCode()
}

els.showCode.addEventListener('click', () => {
  showCode()
  els.codeDialog.showModal()
})
els.closeCode.addEventListener('click', () => els.codeDialog.close())
els.codeDialog.addEventListener('click', (event) => {
  // A click on the backdrop (the dialog element itself, outside its content) closes it.
  if (event.target === els.codeDialog) els.codeDialog.close()
})
els.copyCode.addEventListener('click', () => copyText(els.codeText.textContent ?? '', els.copyCode))
for (const tab of els.codeTabs) {
  tab.addEventListener('click', () => {
    state.codeLanguage = tab.dataset.language ?? 'python'
    showCode()
  })
  tab.addEventListener('keydown', (event) => {
    // Arrow keys move between tabs, as screen-reader users expect of a tablist.
    if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return
    const index = els.codeTabs.indexOf(tab)
    const next = els.codeTabs[(index + (event.key === 'ArrowRight' ? 1 : els.codeTabs.length - 1)) % els.codeTabs.length]
    state.codeLanguage = next.dataset.language ?? 'python'
    showCode()
    next.focus()
  })
}

document.addEventListener('paste', (event) => {
  const files = [...(event.clipboardData?.files ?? [])]
  if (files.length === 0) return
  event.preventDefault()
  void addFiles(files)
})

let dragDepth = 0
const carriesFiles = (event) => event.dataTransfer?.types.includes('Files') ?? false
document.addEventListener('dragenter', (event) => {
  if (!carriesFiles(event)) return
  dragDepth++
  els.dropOverlay.hidden = false
})
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1)
  if (dragDepth === 0) els.dropOverlay.hidden = true
})
document.addEventListener('dragover', (event) => {
  if (carriesFiles(event)) event.preventDefault()
})
document.addEventListener('drop', (event) => {
  if (!carriesFiles(event)) return
  event.preventDefault()
  dragDepth = 0
  els.dropOverlay.hidden = true
  void addFiles([...(event.dataTransfer?.files ?? [])])
})

// On a phone the settings would push the conversation off screen; start them folded.
if (window.matchMedia('(max-width: 760px)').matches) /** @type {HTMLDetailsElement} */ (byId('settings')).open = false
setLanguage(initialLanguage(), false)
els.language.value = language()
showHealth()
loadSettings()
void loadModel()
void loadPromptSpeed()
void pollHealth()
mountStatus(document.querySelector('aside.settings'), headers)
mountBatches(document.querySelector('aside.settings'), headers)
els.question.focus()
