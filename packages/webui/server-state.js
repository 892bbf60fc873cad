// @ts-check
// What the top bar tells about the server: the model it serves, whether it is ready
// (GET /health, polled), and its recent prompt speed for the wait estimate.

import { refreshCosts } from './attachments.js'
import { els } from './elements.js'
import { showEstimate } from './estimate.js'
import { t } from './i18n.js'
import { noticeKey, showNotice } from './notice.js'
import { errorMessage } from './server-errors.js'
import { headers } from './settings.js'
import { state } from './state.js'

export async function loadModel() {
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
    if (noticeKey() === 'notice.needKey') showNotice('')
    void refreshCosts()
  } catch {
    els.modelName.textContent = t('model.unknown')
  }
}

/** @typedef {'unknown' | 'ready' | 'loading' | 'unavailable' | 'offline'} HealthKind */

/** @type {{ kind: HealthKind, key: string, values?: Record<string, unknown>, title?: () => string }} */
let health = { kind: 'unknown', key: 'health.connecting' }

/**
 * `title` is a function so that a language switch re-translates it too.
 * @param {HealthKind} kind @param {string} key @param {Record<string, unknown>} [values] @param {() => string} [title]
 */
function setHealth(kind, key, values = {}, title = () => '') {
  health = { kind, key, values, title }
  showHealth()
}

export function showHealth() {
  els.health.dataset.state = health.kind
  els.health.textContent = t(health.key, health.values)
  els.health.title = health.title?.() ?? ''
}

/** @returns {Promise<void>} */
export async function pollHealth() {
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
export async function loadPromptSpeed() {
  try {
    const response = await fetch('/v1/visto/stats', { headers: headers(), cache: 'no-store' })
    const speed = response.ok ? (await response.json())?.prompt_tokens_per_second : null
    state.promptSpeed = typeof speed === 'number' && Number.isFinite(speed) && speed > 0 ? speed : null
  } catch {
    state.promptSpeed = null
  }
  showEstimate()
}
