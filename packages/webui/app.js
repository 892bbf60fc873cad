// @ts-check
// The Visto chat page. Plain ES modules, no build step: it speaks the same OpenAI-style
// HTTP API as every other client (POST /v1/chat/completions with stream: true), with
// fetch and the SDK's stream reader (on the protocol package's SSE parser, the one the
// engines use too), so that Stop can abort the request directly.
//
// This file wires the page together; each part lives in its own module:
//   attachments.js   images and PDFs in the composer, and what each costs
//   conversation.js  asking, streaming the answer, stop and retry (messages.js draws turns,
//                    grounding.js the boxes and points an answer finds on its image)
//   code-dialog.js   the conversation as code (code-export.js writes it)
//   server-state.js  model, health and prompt speed in the top bar; status.js, the status panel
//   settings.js      temperature, max tokens and the API key; i18n.js, the words

import { renderAttachments, wireAttachmentInputs } from './attachments.js'
import { mountBatches } from './batches.js'
import { showCode, wireCodeDialog } from './code-dialog.js'
import { askFromComposer, newChat } from './conversation.js'
import { els } from './elements.js'
import { showEstimate } from './estimate.js'
import { initialLanguage, language, setLanguage } from './i18n.js'
import { renderNotice } from './notice.js'
import { loadModel, loadPromptSpeed, pollHealth, showHealth } from './server-state.js'
import { headers, loadSettings, saveSettings, showTemperature } from './settings.js'
import { state } from './state.js'
import { mountStatus } from './status.js'

els.composer.addEventListener('submit', (event) => {
  event.preventDefault()
  askFromComposer('chat')
})
els.ocr.addEventListener('click', () => askFromComposer('ocr'))
els.find.addEventListener('click', () => askFromComposer('find'))
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

wireCodeDialog()
wireAttachmentInputs()

// On a phone the settings would push the conversation off screen; start them folded.
if (window.matchMedia('(max-width: 760px)').matches) els.settings.open = false
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
