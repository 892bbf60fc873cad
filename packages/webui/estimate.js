// @ts-check
// The wait shown under the composer: the prompt tokens the next question adds (its text,
// roughly, and each attachment's cost as the server measured it) at the server's recent
// prompt speed.

import { els } from './elements.js'
import { seconds, t } from './i18n.js'
import { defaultQuestion } from './settings.js'
import { state } from './state.js'

/** @typedef {import('./state.js').Attachment} Attachment */

/** Rough text tokens: about one per CJK character, one per four other characters, plus the chat template. @param {string} text */
function estimateTextTokens(text) {
  const cjk = (text.match(/[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]/g) ?? []).length
  return cjk + Math.ceil((text.length - cjk) / 4) + 10
}

/**
 * Prompt tokens the next question adds. Earlier turns are left out: the engine keeps the
 * conversation's prefix cached, so a follow-up only processes what is new.
 * @param {string} question @param {Attachment[]} images
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

/**
 * @param {string} question @param {Attachment[]} images
 * @returns {{ ms: number, tokens: number } | null}
 */
export function estimateFirstToken(question, images) {
  if (state.promptSpeed === null) return null
  const tokens = pendingPromptTokens(question, images)
  if (tokens === null) return null
  return { ms: (tokens / state.promptSpeed) * 1000, tokens }
}

export function showEstimate() {
  const hasInput = state.attachments.length > 0 || els.question.value.trim() !== ''
  const estimate = hasInput ? estimateFirstToken(els.question.value.trim() || defaultQuestion(), state.attachments) : null
  els.estimate.hidden = estimate === null
  if (estimate) {
    els.estimate.textContent = t('composer.estimate', { seconds: seconds(estimate.ms), tokens: estimate.tokens, speed: state.promptSpeed?.toFixed(1) })
  }
}
