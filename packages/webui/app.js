// The Visto chat page. Plain ES module, no build step: it speaks the same OpenAI-style
// HTTP API as every other client (POST /v1/chat/completions with stream: true), with
// fetch and a small SSE reader so that Stop can abort the request directly.

import { mountStatus } from './status.js'

const FALLBACK_MODEL = 'qwen3-vl-4b-instruct'
const SETTINGS_KEY = 'visto.settings'
const API_KEY_KEY = 'visto.apiKey'

const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id))
const els = {
  modelName: byId('model-name'),
  health: byId('health'),
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
  fileInput: /** @type {HTMLInputElement} */ (byId('file-input')),
  question: /** @type {HTMLTextAreaElement} */ (byId('question')),
  send: /** @type {HTMLButtonElement} */ (byId('send')),
  stop: /** @type {HTMLButtonElement} */ (byId('stop')),
  dropOverlay: byId('drop-overlay'),
}
// An empty box with images attached asks the question shown as the placeholder.
const DEFAULT_QUESTION = els.question.placeholder

const state = {
  /** OpenAI-format messages of the finished turns; sent again with every question. */
  history: /** @type {Array<{role: string, content: unknown}>} */ ([]),
  /** Images waiting to be sent with the next question. */
  attachments: /** @type {Array<{name: string, dataUrl: string}>} */ ([]),
  model: /** @type {string | null} */ (null),
  controller: /** @type {AbortController | null} */ (null),
  turns: 0,
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
      els.modelName.textContent = 'unknown'
      if (response.status === 401) {
        showNotice('This server needs an API key: enter it under Settings.', 'error')
        els.apiKey.focus()
      } else {
        showNotice(`Could not list models: ${await errorMessage(response)}`, 'error')
      }
      return
    }
    const body = await response.json()
    const id = body?.data?.[0]?.id
    state.model = typeof id === 'string' ? id : null
    els.modelName.textContent = state.model ?? 'none'
  } catch {
    els.modelName.textContent = 'unknown'
  }
}

function setHealth(kind, text, title = '') {
  els.health.dataset.state = kind
  els.health.textContent = text
  els.health.title = title
}

async function pollHealth() {
  let nextPollMs = 15_000
  try {
    const response = await fetch('/health', { cache: 'no-store' })
    const body = await response.json().catch(() => ({}))
    if (response.ok) {
      setHealth('ready', 'ready', `${body.running ?? 0} running, ${body.queued ?? 0} queued`)
      if (state.model === null) void loadModel()
    } else if (body.status === 'loading') {
      const percent = typeof body.progress === 'number' ? `${Math.round(body.progress * 100)}%` : '…'
      setHealth('loading', `loading ${percent}`, body.message ?? '')
      nextPollMs = 1_000
    } else {
      setHealth('unavailable', 'unavailable', body.message ?? `HTTP ${response.status}`)
      nextPollMs = 3_000
    }
  } catch {
    setHealth('offline', 'offline', 'The server cannot be reached')
    nextPollMs = 3_000
  }
  setTimeout(pollHealth, nextPollMs)
}

// ---------------------------------------------------------------- attachments

function showNotice(text, kind = 'info') {
  els.notice.textContent = text
  els.notice.dataset.kind = kind
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader()
    reader.onload = () => resolve(/** @type {string} */ (reader.result))
    reader.onerror = () => reject(reader.error ?? new Error(`Could not read ${file.name}`))
    reader.readAsDataURL(file)
  })
}

let adding = Promise.resolve()

/** Adds image files (from the picker, a drop or a paste), in the order they came. */
function addFiles(files) {
  adding = adding.then(() => readFiles(files))
  return adding
}

/** Only a first sieve on the declared type: the server checks the bytes. */
async function readFiles(files) {
  const skipped = []
  for (const file of files) {
    // An empty type is common for .bmp and friends on some systems: let the server judge.
    if (file.type && !file.type.startsWith('image/')) {
      skipped.push(file.name)
      continue
    }
    try {
      state.attachments.push({ name: file.name || 'pasted image', dataUrl: await readAsDataUrl(file) })
    } catch (error) {
      skipped.push(`${file.name} (${error instanceof Error ? error.message : 'unreadable'})`)
    }
  }
  if (skipped.length) showNotice(`Not attached (not an image): ${skipped.join(', ')}`, 'error')
  renderAttachments()
}

const NO_PREVIEW =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="72" height="72" viewBox="0 0 72 72"><rect width="72" height="72" fill="#9aa1ac" opacity=".25"/>' +
      '<text x="36" y="33" font-family="sans-serif" font-size="11" text-anchor="middle" fill="#6b7280">no</text>' +
      '<text x="36" y="47" font-family="sans-serif" font-size="11" text-anchor="middle" fill="#6b7280">preview</text></svg>',
  )

function thumbnail(image) {
  const img = document.createElement('img')
  img.src = image.dataUrl
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

function renderAttachments() {
  els.attachments.replaceChildren(
    ...state.attachments.map((image, index) => {
      const item = document.createElement('li')
      item.className = 'attachment'
      item.title = image.name
      const remove = document.createElement('button')
      remove.type = 'button'
      remove.className = 'remove'
      remove.textContent = '×'
      remove.setAttribute('aria-label', `Remove ${image.name}`)
      remove.addEventListener('click', () => {
        state.attachments.splice(index, 1)
        renderAttachments()
      })
      item.append(thumbnail(image), remove)
      return item
    }),
  )
}

// ---------------------------------------------------------------- conversation view

function scrollToEnd() {
  els.chat.scrollTop = els.chat.scrollHeight
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
}

function userBubble(turn, question, images) {
  const item = document.createElement('li')
  item.className = 'message user'
  item.setAttribute('aria-label', `Question ${turn}`)
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

function answerBubble(turn) {
  const item = document.createElement('li')
  item.className = 'message assistant pending'
  item.setAttribute('aria-label', `Answer ${turn}`)
  item.setAttribute('aria-busy', 'true')
  const text = document.createElement('div')
  text.className = 'text'
  const meta = document.createElement('p')
  meta.className = 'meta'
  meta.setAttribute('aria-label', 'Answer statistics')
  meta.textContent = 'thinking…'
  item.append(text, meta)
  els.messages.append(item)

  const finish = () => {
    item.classList.remove('pending')
    item.setAttribute('aria-busy', 'false')
  }
  return {
    setText(value) {
      const nearEnd = els.chat.scrollHeight - els.chat.scrollTop - els.chat.clientHeight < 120
      // Models often open with a space or newline; the history keeps it, the eye needs not.
      text.textContent = value.trimStart()
      if (nearEnd) scrollToEnd()
    },
    done({ elapsedMs, firstTokenMs, usage, finishReason, stopped }) {
      finish()
      const parts = [seconds(elapsedMs)]
      if (firstTokenMs !== null) parts.push(`first token ${seconds(firstTokenMs)}`)
      if (usage) {
        parts.push(`${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion = ${usage.total_tokens} tokens`)
        // Decode speed: the tokens after the first, over the time after the first.
        const generatingMs = elapsedMs - (firstTokenMs ?? elapsedMs)
        if (usage.completion_tokens > 1 && generatingMs > 0) parts.push(`${((usage.completion_tokens - 1) / (generatingMs / 1000)).toFixed(1)} tokens/s`)
      }
      if (stopped) parts.push('stopped')
      meta.textContent = parts.join(' · ')
      if (finishReason === 'length') {
        const warning = document.createElement('span')
        warning.className = 'warning'
        warning.textContent = ' · cut short at the max tokens limit: raise “Max tokens” in Settings'
        meta.append(warning)
      }
      if (!text.textContent) text.textContent = stopped ? '(stopped before any text)' : '(empty answer)'
    },
    fail(message, elapsedMs) {
      finish()
      item.classList.add('failed')
      const alert = document.createElement('p')
      alert.className = 'error'
      alert.setAttribute('role', 'alert')
      alert.textContent = message
      item.insertBefore(alert, meta)
      meta.textContent = `failed after ${seconds(elapsedMs)}`
      scrollToEnd()
    },
  }
}

// ---------------------------------------------------------------- streaming

/** Yields the `data:` payload of each server-sent event in a fetch response body. */
async function* serverSentData(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  /** @type {string[]} */
  let data = []
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += value
      const lines = buffer.split(/\r\n|\n|\r/)
      buffer = lines.pop() ?? ''
      for (const line of lines) {
        if (line === '') {
          if (data.length) yield data.join('\n')
          data = []
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line.startsWith('data: ') ? 6 : 5))
        }
      }
    }
    if (buffer.startsWith('data:')) data.push(buffer.slice(buffer.startsWith('data: ') ? 6 : 5))
    if (data.length) yield data.join('\n')
  } finally {
    reader.releaseLock()
  }
}

class ServerError extends Error {}

function setBusy(busy) {
  els.send.disabled = busy
  els.stop.hidden = !busy
  els.composer.setAttribute('aria-busy', String(busy))
}

async function ask() {
  if (state.controller) return
  const typed = els.question.value.trim()
  const images = state.attachments.splice(0)
  if (!typed && images.length === 0) {
    showNotice('Type a question or attach an image first.', 'error')
    els.question.focus()
    return
  }
  const question = typed || DEFAULT_QUESTION
  const userMessage = {
    role: 'user',
    content: images.length
      ? [{ type: 'text', text: question }, ...images.map((image) => ({ type: 'image_url', image_url: { url: image.dataUrl } }))]
      : question,
  }
  const turn = ++state.turns
  els.emptyHint.hidden = true
  els.question.value = ''
  showNotice('')
  renderAttachments()
  const userView = userBubble(turn, question, images)
  const answer = answerBubble(turn)
  scrollToEnd()

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
        messages: [...state.history, userMessage],
        stream: true,
        stream_options: { include_usage: true },
        temperature: temperature(),
        max_tokens: maxTokens(),
      }),
      signal: controller.signal,
    })
    if (!response.ok) throw new ServerError(await errorMessage(response))
    if (!response.body) throw new ServerError('The server sent no response body')
    for await (const data of serverSentData(response.body)) {
      if (data === '[DONE]') {
        sawDone = true
        break
      }
      const chunk = JSON.parse(data)
      // After the headers are out, the server reports failures as an error event.
      if (chunk.error) throw new ServerError(chunk.error.message ?? 'The server reported an error')
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
    if (!sawDone && finishReason === null) throw new ServerError('The connection closed before the answer was complete')
    state.history.push(userMessage, { role: 'assistant', content: text })
    answer.done({ elapsedMs: performance.now() - started, firstTokenMs, usage, finishReason, stopped: false })
  } catch (error) {
    const elapsedMs = performance.now() - started
    if (controller.signal.aborted) {
      // Keep what arrived: the next question can build on a partial answer.
      if (text) state.history.push(userMessage, { role: 'assistant', content: text })
      answer.done({ elapsedMs, firstTokenMs, usage, finishReason, stopped: true })
    } else {
      const message =
        error instanceof ServerError ? error.message : `Could not reach the server: ${error instanceof Error ? error.message : String(error)}`
      answer.fail(message, elapsedMs)
      userView.classList.add('failed')
      // The failed turn stays out of the history; give the question and images back to fix and resend.
      if (!els.question.value) els.question.value = typed
      state.attachments.unshift(...images)
      renderAttachments()
      // The composer grew with the returned images; keep the error in view.
      scrollToEnd()
    }
  } finally {
    state.controller = null
    setBusy(false)
  }
}

function newChat() {
  state.controller?.abort()
  state.history = []
  state.attachments = []
  state.turns = 0
  els.messages.replaceChildren()
  els.emptyHint.hidden = false
  els.question.value = ''
  showNotice('')
  renderAttachments()
  els.question.focus()
}

// ---------------------------------------------------------------- wiring

els.composer.addEventListener('submit', (event) => {
  event.preventDefault()
  void ask()
})
els.question.addEventListener('keydown', (event) => {
  // Enter sends, Shift+Enter breaks the line; never while an IME (pinyin) is composing.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault()
    els.composer.requestSubmit()
  }
})
els.stop.addEventListener('click', () => state.controller?.abort())
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
})

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
loadSettings()
void loadModel()
void pollHealth()
mountStatus(document.querySelector('aside.settings'), headers)
els.question.focus()
