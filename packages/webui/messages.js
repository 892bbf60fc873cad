// @ts-check
// The conversation on screen: a bubble per question and per answer. An answer is drawn as
// it streams (once a frame, re-parsing only its last block), then finished with its
// statistics or its error and a Retry. Model output goes through markdown.js, which
// builds text nodes only. An answer that finds things on its image shows them drawn on
// it (grounding.js).

import { thumbnail } from './attachments.js'
import { copyText } from './clipboard.js'
import { els } from './elements.js'
import { groundingFigure } from './grounding.js'
import { label, seconds, t } from './i18n.js'
import { renderMarkdown, streamMarkdown } from './markdown.js'

/**
 * @typedef {import('./state.js').Attachment} Attachment
 * @typedef {import('./state.js').AskKind} AskKind
 * @typedef {import('@visto/sdk').Usage} Usage
 * @typedef {{ elapsedMs: number, firstTokenMs: number | null, estimatedMs: number | null, usage: Usage | null,
 *   finishReason: string | null, stopped: boolean }} AnswerStats
 */

export function scrollToEnd() {
  els.chat.scrollTop = els.chat.scrollHeight
}

/**
 * A code or text block under a caption, with its own copy button.
 * @param {string} text @param {string} caption @param {string} buttonLabel @param {string} [className]
 */
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

/** @type {import('./markdown.js').Options} */
const markdownOptions = { codeBlock: (code, lang) => copyableBlock(code, lang, t('message.copyCode')) }

/** @param {HTMLElement} container @param {string} text @param {AskKind} kind */
function renderAnswer(container, text, kind) {
  // Models often open with a space or newline; the history keeps it, the eye needs not.
  const trimmed = text.trimStart()
  if (kind === 'ocr') {
    container.replaceChildren(copyableBlock(trimmed.replace(/^```\w*\n([\s\S]*?)(\n```\s*)?$/, '$1'), t('message.ocrText'), t('message.copyText'), 'code-block ocr-block'))
  } else {
    container.replaceChildren(renderMarkdown(trimmed, markdownOptions))
  }
}

/** @param {number} turn @param {string} question @param {Attachment[]} images */
export function userBubble(turn, question, images) {
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

/**
 * An answer's bubble, pending until `done` or `fail`.
 * @param {number} turn @param {AskKind} kind
 * @param {Attachment | null} [image] the image the answer's boxes and points would be drawn on
 */
export function answerBubble(turn, kind, image = null) {
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
  const stream = kind === 'ocr' ? null : streamMarkdown(text, markdownOptions)
  const finish = () => {
    cancelAnimationFrame(frame)
    frame = 0
    item.classList.remove('pending')
    item.setAttribute('aria-busy', 'false')
  }
  return {
    item,
    /** @param {string} value the answer so far */
    setText(value) {
      latest = value
      // Re-rendering Markdown per token is wasted work; once per frame is smooth enough.
      if (frame) return
      frame = requestAnimationFrame(() => {
        frame = 0
        const nearEnd = els.chat.scrollHeight - els.chat.scrollTop - els.chat.clientHeight < 120
        if (stream) stream.update(latest.trimStart())
        else renderAnswer(text, latest, kind)
        if (nearEnd) scrollToEnd()
      })
    },
    /** @param {AnswerStats} stats */
    done({ elapsedMs, firstTokenMs, estimatedMs, usage, finishReason, stopped }) {
      finish()
      renderAnswer(text, latest, kind)
      const figure = image ? groundingFigure(latest.trimStart(), text, image) : null
      if (figure) item.insertBefore(figure, text)
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
    /**
     * Shows `message` and a Retry button that calls `retry`; returns the button.
     * @param {string} message @param {number} elapsedMs @param {() => void} retry
     */
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
