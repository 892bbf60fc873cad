// @ts-check
// Live server status for the chat page: model, engine, uptime, and small charts of the
// last minutes (latency, success rate, tokens/s, queue), drawn as plain SVG from the
// server's own numbers (GET /v1/visto/stats). No inline styles or scripts: the page runs
// under a strict CSP, so the look lives in status.css and every element is built here.

// Its words come from i18n.js's tables (`status.*`); numbers and units are filled in.
import { label, onLanguageChange, seconds, t } from './i18n.js'

/** Shown where a figure is not known yet: the same in every language. */
const NONE = '–'

const SVG = 'http://www.w3.org/2000/svg'
const WIDTH = 240
const HEIGHT = 56

/** An uptime, coarser the longer it is. @param {number} s */
function duration(s) {
  if (s < 60) return t('unit.seconds', { value: Math.round(s) })
  if (s < 3600) return t('unit.minutes', { minutes: Math.floor(s / 60) })
  if (s < 86400) return t('unit.hours', { hours: Math.floor(s / 3600), minutes: Math.floor((s % 3600) / 60) })
  return t('unit.days', { days: Math.floor(s / 86400), hours: Math.floor((s % 86400) / 3600) })
}

/** @param {number | null | undefined} ms */
function millis(ms) {
  if (ms === null || ms === undefined) return NONE
  return ms < 1000 ? t('unit.ms', { value: Math.round(ms) }) : seconds(ms)
}

/** @param {number | null | undefined} value */
function rate(value) {
  return value === null || value === undefined ? NONE : value.toFixed(value < 10 ? 1 : 0)
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {string} [className] @param {string} [text]
 */
function el(tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

/**
 * An element whose text is the table's `key`, marked so that a language switch
 * (translatePage) re-translates it.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {string | undefined} className @param {string} key
 */
function worded(tag, className, key) {
  const node = el(tag, className, t(key))
  node.dataset.i18n = key
  return node
}

/** @param {string} tag @param {Record<string, string | number>} attributes */
function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag)
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value))
  return node
}

/** A value a chart can place, rounded up to a readable top. @param {number} max */
function niceTop(max) {
  if (!(max > 0)) return 1
  const magnitude = 10 ** Math.floor(Math.log10(max))
  for (const step of [1, 2, 2.5, 5, 10]) if (max <= step * magnitude) return step * magnitude
  return 10 * magnitude
}

/**
 * One small chart: an SVG with a line per series (gaps where a bucket has no value), a
 * top-of-scale label and a caption holding the latest figures.
 */
class Chart {
  /**
   * @param {string} nameKey the table key of the chart's name
   * @param {Array<{key: string, label?: string, labelKey?: string}>} lines a legend in words has a `labelKey`, a symbol a `label`
   * @param {{fixedTop?: number}} [options]
   */
  constructor(nameKey, lines, options = {}) {
    this.nameKey = nameKey
    this.lines = lines
    this.fixedTop = options.fixedTop
    this.figure = el('figure', 'status-chart')
    label(this.figure, 'aria-label', nameKey)
    const caption = el('figcaption')
    caption.append(worded('span', 'status-chart-name', nameKey))
    this.value = el('span', 'status-chart-value', NONE)
    caption.append(this.value)
    this.svg = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', preserveAspectRatio: 'none' })
    label(this.svg, 'aria-label', nameKey)
    this.figure.append(caption, this.svg)
    if (lines.length > 1) {
      const legend = el('p', 'status-legend')
      for (const [i, line] of lines.entries())
        legend.append(line.labelKey ? worded('span', `status-key series-${i}`, line.labelKey) : el('span', `status-key series-${i}`, line.label))
      this.figure.append(legend)
    }
  }

  /**
   * @param {Array<Record<string, number | null>>} values one row per bucket, oldest first
   * @param {string} summary the caption's figures and the chart's accessible description
   */
  draw(values, summary) {
    this.value.textContent = summary
    // From now on the description holds figures too, so it is redrawn rather than re-translated.
    this.svg.removeAttribute('data-i18n-aria-label')
    this.svg.setAttribute('aria-label', `${t(this.nameKey)}: ${summary}`)
    this.svg.replaceChildren()
    let max = 0
    for (const row of values) for (const { key } of this.lines) max = Math.max(max, row[key] ?? 0)
    const top = this.fixedTop ?? niceTop(max)
    const n = Math.max(1, values.length - 1)
    // Inset so the newest point, on the right edge, is drawn whole.
    const x = (/** @type {number} */ i) => 3 + (i / n) * (WIDTH - 6)
    const y = (/** @type {number} */ v) => HEIGHT - 2 - (Math.min(v, top) / top) * (HEIGHT - 12)
    this.svg.append(svg('line', { class: 'status-axis', x1: 0, y1: HEIGHT - 1.5, x2: WIDTH, y2: HEIGHT - 1.5 }))
    const scale = svg('text', { class: 'status-scale', x: 2, y: 9 })
    scale.textContent = String(top)
    this.svg.append(scale)
    let plotted = 0
    this.lines.forEach(({ key }, series) => {
      /** @type {string[]} */
      let run = []
      const flush = () => {
        if (run.length === 1) {
          // A zero-length line with a round cap: a dot that stays round in the stretched SVG.
          const [px, py] = run[0].split(',')
          this.svg.append(svg('line', { class: `status-dot series-${series}`, x1: px, y1: py, x2: px, y2: py }))
        } else if (run.length > 1) {
          this.svg.append(svg('polyline', { class: `status-line series-${series}`, points: run.join(' ') }))
        }
        run = []
      }
      values.forEach((row, i) => {
        const v = row[key]
        if (v === null || v === undefined) {
          flush()
          return
        }
        plotted++
        run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`)
      })
      flush()
    })
    this.svg.dataset.points = String(plotted)
  }
}

/**
 * Builds the status panel at the end of `container` and keeps it current while the page is
 * visible. `authHeaders` returns the headers the page sends (the API key, when set).
 *
 * @param {Element | null} container
 * @param {() => Record<string, string>} [authHeaders]
 * @param {{ intervalMs?: number }} [options]
 */
export function mountStatus(container, authHeaders = () => ({}), options = {}) {
  if (!container) return
  if (!document.querySelector('link[data-status-css]')) {
    const link = document.createElement('link')
    link.rel = 'stylesheet'
    link.href = new URL('./status.css', import.meta.url).href
    link.dataset.statusCss = ''
    document.head.append(link)
  }
  const panel = el('details', 'status')
  panel.id = 'server-status'
  panel.open = true
  panel.append(worded('summary', undefined, 'status.title'))
  const facts = el('dl', 'status-facts')
  /** @type {Record<string, HTMLElement>} */
  const fact = {}
  for (const key of /** @type {const} */ (['model', 'engine', 'uptime', 'promptSpeed', 'firstToken'])) {
    const value = el('dd', undefined, NONE)
    value.dataset.fact = key
    facts.append(worded('dt', undefined, `status.${key}`), value)
    fact[key] = value
  }
  // Plain text, not a live region: the page itself announces problems such as a missing key.
  const note = el('p', 'status-note')
  note.hidden = true
  const windowLine = el('p', 'status-window')
  const charts = {
    latency: new Chart('status.latency', [
      { key: 'latency_p50_ms', label: 'p50' },
      { key: 'latency_p95_ms', label: 'p95' },
    ]),
    success: new Chart('status.success', [{ key: 'success_pct', label: '%' }], { fixedTop: 100 }),
    tokens: new Chart('status.tokens', [
      { key: 'completion_tokens_per_s', labelKey: 'status.legendCompletion' },
      { key: 'prompt_tokens_per_s', labelKey: 'status.legendPrompt' },
    ]),
    queue: new Chart('status.queue', [
      { key: 'queued', labelKey: 'status.legendQueued' },
      { key: 'running', labelKey: 'status.legendRunning' },
    ]),
  }
  panel.append(facts, note, windowLine, ...Object.values(charts).map((chart) => chart.figure))
  container.append(panel)

  // What is on screen, kept so that a language switch can write it again in the new words.
  /** @type {any} */
  let shownStats = null
  /** @type {(() => string) | null} */
  let shownProblem = null

  /** @param {any} stats */
  const render = (stats) => {
    fact.model.textContent = stats.model
    // A pool (several engines behind this server): how many serve, and each one's state and load.
    /** @type {Array<{ id: string, state: string, in_flight: number, slots: number }> | undefined} */
    const pool = stats.pool
    const serving = pool ? pool.filter((m) => m.state !== 'open').length : 0
    fact.engine.textContent = `${stats.engine.kind} · ${stats.engine.status}${pool ? ` · ${serving}/${pool.length}` : ''}`
    fact.engine.title = pool ? pool.map((m) => `${m.id}: ${m.state}, ${m.in_flight}/${m.slots}`).join('\n') : ''
    fact.uptime.textContent = duration(stats.uptime_s)
    fact.promptSpeed.textContent = stats.prompt_tokens_per_second === null ? NONE : t('unit.tokensPerSecond', { rate: rate(stats.prompt_tokens_per_second) })
    fact.firstToken.textContent = millis(stats.time_to_first_token_ms_p50)
    /** @type {Array<Record<string, number | null>>} */
    const series = stats.series
    const total = series.reduce((n, p) => n + /** @type {number} */ (p.requests), 0)
    const errors = series.reduce((n, p) => n + /** @type {number} */ (p.errors), 0)
    const requests = t('status.requests', { n: total })
    windowLine.textContent = `${t('status.lastMinutes', { minutes: Math.round(stats.window_s / 60) })} · ${total === 0 ? t('status.noData') : requests}`
    const lastWith = (/** @type {string} */ key) => [...series].reverse().find((p) => p[key] !== null && p[key] !== undefined)?.[key] ?? null
    charts.latency.draw(series, t('status.latencyValue', { p50: millis(lastWith('latency_p50_ms')), p95: millis(lastWith('latency_p95_ms')) }))
    const success = series.map((p) => {
      const asked = p.requests ?? 0
      const failed = p.errors ?? 0
      return { success_pct: asked ? (100 * (asked - failed)) / asked : null }
    })
    charts.success.draw(success, total === 0 ? NONE : t('status.successValue', { rate: `${(100 * (1 - errors / total)).toFixed(total - errors === total ? 0 : 1)}%`, requests }))
    charts.tokens.draw(series, t('status.tokensValue', { completion: rate(lastWith('completion_tokens_per_s')), prompt: rate(lastWith('prompt_tokens_per_s')) }))
    const now = series.at(-1)
    charts.queue.draw(series, t('status.queueValue', { queued: now?.queued ?? 0, running: now?.running ?? 0 }))
  }

  /** @param {(() => string) | null} problem */
  const showProblem = (problem) => {
    shownProblem = problem
    note.textContent = problem ? problem() : ''
    note.hidden = !problem
  }

  onLanguageChange(() => {
    if (shownStats) render(shownStats)
    showProblem(shownProblem)
  })

  let inFlight = false
  const refresh = async () => {
    if (inFlight || document.hidden || !panel.open) return
    inFlight = true
    try {
      const headers = { ...authHeaders() }
      delete headers['content-type']
      const response = await fetch('/v1/visto/stats', { headers, cache: 'no-store' })
      if (response.ok) {
        shownStats = await response.json()
        render(shownStats)
        showProblem(null)
      } else {
        const status = response.status
        showProblem(() => (status === 401 ? t('status.needsKey') : t('status.unreachable', { status })))
      }
    } catch {
      showProblem(() => t('status.offline'))
    } finally {
      inFlight = false
    }
  }
  panel.addEventListener('toggle', () => void refresh())
  document.addEventListener('visibilitychange', () => void refresh())
  setInterval(() => void refresh(), options.intervalMs ?? 5000)
  void refresh()
}
