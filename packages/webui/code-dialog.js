// @ts-check
// The "Code" dialog: the conversation as a program someone can run (code-export.js writes
// it), in a tab per language, for chat completions or the Responses API, with a copy button.

import { copyText } from './clipboard.js'
import { anthropicCode, curlCode, javascriptCode, pythonCode, responsesCurlCode, responsesJavascriptCode, responsesPythonCode } from './code-export.js'
import { els } from './elements.js'
import { t } from './i18n.js'
import { defaultQuestion, maxTokens, temperature } from './settings.js'
import { modelId, state } from './state.js'

/**
 * @typedef {import('./state.js').CodeLanguage} CodeLanguage
 * @typedef {import('./state.js').Turn} Turn
 */

const generators = {
  chat: { python: pythonCode, curl: curlCode, javascript: javascriptCode },
  responses: { python: responsesPythonCode, curl: responsesCurlCode, javascript: responsesJavascriptCode },
}

/** The Anthropic SDK tab speaks Anthropic's Messages API: the OpenAI API choice does not apply to it. */
const anthropicGenerator = anthropicCode

/** @param {string | undefined} name @returns {CodeLanguage} */
const codeLanguage = (name) => (name === 'curl' || name === 'javascript' || name === 'anthropic' ? name : 'python')

/**
 * The request that would come next: the finished turns plus what is in the composer, or,
 * with an empty composer, the request that produced the last answer.
 * @returns {Turn[]}
 */
function turnsForCode() {
  const typed = els.question.value.trim()
  if (!typed && state.attachments.length === 0) return state.turns.slice(0, -1)
  return [...state.turns, { role: 'user', text: typed || defaultQuestion(), images: state.attachments }]
}

/** Writes the dialog's code for the current conversation and language (it may be open or about to be). */
export function showCode() {
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
    model: modelId(),
    temperature: temperature(),
    maxTokens: maxTokens(),
    needsKey: els.apiKey.value.trim() !== '',
  }
  const language = state.codeLanguage
  els.codeApi.disabled = language === 'anthropic'
  els.codeText.textContent = language === 'anthropic' ? anthropicGenerator(turns, target) : generators[state.codeApi][language](turns, target)
}

/** Opens and closes the dialog, switches its tabs (by click or arrow keys) and copies. */
export function wireCodeDialog() {
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
  els.codeApi.addEventListener('change', () => {
    state.codeApi = els.codeApi.value === 'responses' ? 'responses' : 'chat'
    showCode()
  })
  for (const tab of els.codeTabs) {
    tab.addEventListener('click', () => {
      state.codeLanguage = codeLanguage(tab.dataset.language)
      showCode()
    })
    tab.addEventListener('keydown', (event) => {
      // Arrow keys move between tabs, as screen-reader users expect of a tablist.
      if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return
      const index = els.codeTabs.indexOf(tab)
      const next = els.codeTabs[(index + (event.key === 'ArrowRight' ? 1 : els.codeTabs.length - 1)) % els.codeTabs.length]
      state.codeLanguage = codeLanguage(next.dataset.language)
      showCode()
      next.focus()
    })
  }
}
