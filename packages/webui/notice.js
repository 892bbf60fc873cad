// @ts-check
// The one-line notice under the composer (a missing key, a file that was not attached).
// It is kept as a table key, not as words, so a language switch re-translates it.

import { els } from './elements.js'
import { t } from './i18n.js'

/** @typedef {'info' | 'error'} NoticeKind */

/** @type {{ key: string, values?: Record<string, unknown>, kind: NoticeKind }} */
let notice = { key: '', kind: 'info' }

/**
 * Shows a page string by key; '' clears.
 * @param {string} key @param {NoticeKind} [kind] @param {Record<string, unknown>} [values]
 */
export function showNotice(key, kind = 'info', values = {}) {
  notice = { key, values, kind }
  renderNotice()
}

/** The key on show, so that a later success can clear only the notice it answers. */
export function noticeKey() {
  return notice.key
}

export function renderNotice() {
  els.notice.textContent = notice.key ? t(notice.key, notice.values) : ''
  els.notice.dataset.kind = notice.kind
}
