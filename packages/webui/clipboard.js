// @ts-check
// Copying to the clipboard, for the code dialog and the copy buttons on answers.

import { t } from './i18n.js'

/**
 * Copies text, with a fallback for pages served over plain http on another host (no
 * Clipboard API there), and shows on `button` for a moment whether it worked.
 * @param {string} text @param {HTMLElement} button
 */
export async function copyText(text, button) {
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
