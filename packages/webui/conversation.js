// @ts-check
// Asking: the composer's question and images go out with the conversation so far
// (POST /v1/chat/completions, stream: true) and the answer streams in through the SDK's
// reader, which also turns an error event mid-stream into the server's message. Stop,
// Escape and New chat abort the request; a failed question can be retried as it was.

import { ApiError, ChatCompletionStream, ConnectionError, groundingPrompt, InvalidResponseError } from '@visto/sdk'
import { renderAttachments } from './attachments.js'
import { showCode } from './code-dialog.js'
import { turnMessage } from './code-export.js'
import { els } from './elements.js'
import { estimateFirstToken } from './estimate.js'
import { groundingImage } from './grounding.js'
import { t } from './i18n.js'
import { answerBubble, scrollToEnd, userBubble } from './messages.js'
import { showNotice } from './notice.js'
import { errorMessage } from './server-errors.js'
import { loadPromptSpeed } from './server-state.js'
import { defaultQuestion, headers, maxTokens, temperature } from './settings.js'
import { modelId, state } from './state.js'

/**
 * @typedef {import('./state.js').Attachment} Attachment
 * @typedef {import('./state.js').AskKind} AskKind
 * @typedef {import('./state.js').Turn} Turn
 * @typedef {import('@visto/sdk').Usage} Usage
 */

/** A failure already worded for the reader (the server's message, or the page's own). */
class WordedError extends Error {}

/** @param {boolean} busy */
function setBusy(busy) {
  els.send.disabled = busy
  els.ocr.disabled = busy
  els.find.disabled = busy
  els.stop.hidden = !busy
  els.composer.setAttribute('aria-busy', String(busy))
}

/** @param {Turn} turn */
function toMessage(turn) {
  return turnMessage(turn, (image) => ({ url: image.dataUrl, filename: image.name }))
}

/**
 * What the reader sees when an answer fails.
 * @param {unknown} error
 */
function failureMessage(error) {
  // An ApiError here came as an error event after the stream began: its message is the server's.
  if (error instanceof WordedError || error instanceof ApiError) return error.message
  // The SDK's reader says so when the stream ends with neither a finish_reason nor [DONE].
  if (error instanceof ConnectionError) return t('error.closedEarly')
  if (error instanceof InvalidResponseError) return t('error.serverError')
  return t('error.unreachable', { message: error instanceof Error ? error.message : String(error) })
}

/**
 * Takes the composer's question and images and asks; `kind` 'ocr' asks for the text in
 * them, 'find' for boxes around what the question box names (everything when empty).
 * @param {AskKind} [kind]
 */
export function askFromComposer(kind = 'chat') {
  if (state.controller) return
  const typed = els.question.value.trim()
  const hasHistoryImages = state.turns.some((turn) => turn.images.length > 0)
  if (kind !== 'chat' && state.attachments.length === 0 && !hasHistoryImages) {
    showNotice(kind === 'ocr' ? 'notice.ocrNeedsImage' : 'notice.findNeedsImage', 'error')
    return
  }
  if (kind === 'chat' && !typed && state.attachments.length === 0) {
    showNotice('notice.empty', 'error')
    els.question.focus()
    return
  }
  const images = state.attachments.splice(0)
  const question = kind === 'ocr' ? t('composer.ocrQuestion') : kind === 'find' ? groundingPrompt(typed) : typed || defaultQuestion()
  els.question.value = kind === 'ocr' ? typed : ''
  showNotice('')
  renderAttachments()
  void ask(question, images, kind, typed)
}

/**
 * Sends one question with the conversation so far and streams the answer in.
 * @param {string} question @param {Attachment[]} images @param {AskKind} kind
 * @param {string} typed what was in the question box, handed back if the request fails
 */
async function ask(question, images, kind, typed) {
  /** @type {Turn} */
  const userTurn = { role: 'user', text: question, images }
  const turn = ++state.asked
  els.emptyHint.hidden = true
  const userView = userBubble(turn, question, images)
  const answer = answerBubble(turn, kind, groundingImage(images, state.turns))
  scrollToEnd()

  const estimate = estimateFirstToken(question, images)
  const controller = new AbortController()
  state.controller = controller
  // The reader closes the connection itself when a stream fails; only Stop aborts
  // `controller`, so that a stop and a failure stay apart.
  const connection = new AbortController()
  controller.signal.addEventListener('abort', () => connection.abort(), { once: true })
  setBusy(true)
  const started = performance.now()
  /** @type {number | null} */
  let firstTokenMs = null
  let text = ''
  /** @type {Usage | null} */
  let usage = null
  /** @type {string | null} */
  let finishReason = null
  try {
    const response = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({
        model: modelId(),
        messages: [...state.turns, userTurn].map(toMessage),
        stream: true,
        stream_options: { include_usage: true },
        temperature: temperature(),
        max_tokens: maxTokens(),
      }),
      signal: connection.signal,
    })
    if (!response.ok) throw new WordedError(await errorMessage(response))
    if (!response.body) throw new WordedError(t('error.noBody'))
    // The SDK's client would add retries, timeouts and metrics through these hooks; the
    // page wants none of them, only the reading.
    const stream = new ChatCompletionStream(response, connection, {
      translateError: (error) => error,
      finish: () => {},
      onBytes: () => {},
      onChunk: () => {},
    })
    for await (const chunk of stream) {
      const choice = chunk.choices[0]
      const delta = choice?.delta.content
      if (typeof delta === 'string' && delta) {
        firstTokenMs ??= performance.now() - started
        text += delta
        answer.setText(text)
      }
      if (choice?.finish_reason) finishReason = choice.finish_reason
      if (chunk.usage) usage = chunk.usage
    }
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
      userView.classList.add('failed')
      // The failed turn stays out of the history. The question and images go back to the
      // composer to fix and resend; Retry sends them again as they were.
      if (!els.question.value && kind !== 'ocr') els.question.value = typed
      state.attachments.unshift(...images)
      renderAttachments()
      const retryButton = answer.fail(failureMessage(error), elapsedMs, () => {
        if (state.controller) return
        if (els.question.value === typed && kind !== 'ocr') els.question.value = ''
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

export function newChat() {
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
