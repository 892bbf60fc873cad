// @ts-check
// The settings column: temperature and max tokens (kept across visits) and the API key
// (kept for the tab only), and the request headers and defaults they give.

import { els } from './elements.js'
import { t } from './i18n.js'

const SETTINGS_KEY = 'visto.settings'
const API_KEY_KEY = 'visto.apiKey'

export function loadSettings() {
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

export function saveSettings() {
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ temperature: temperature(), maxTokens: maxTokens() }))
    sessionStorage.setItem(API_KEY_KEY, els.apiKey.value.trim())
  } catch {
    // See loadSettings.
  }
}

export function temperature() {
  const value = Number(els.temperature.value)
  return Number.isFinite(value) ? value : 0.3
}

export function maxTokens() {
  const value = Math.round(Number(els.maxTokens.value))
  return Number.isFinite(value) && value > 0 ? value : 1024
}

export function showTemperature() {
  els.temperatureValue.value = temperature().toFixed(2)
}

/** The headers of every API request the page makes: JSON, and the key when one is set. */
export function headers() {
  /** @type {Record<string, string>} */
  const result = { 'content-type': 'application/json' }
  const key = els.apiKey.value.trim()
  if (key) result.authorization = `Bearer ${key}`
  return result
}

/** What is asked when the question box is empty. */
export function defaultQuestion() {
  return t('composer.defaultQuestion')
}
