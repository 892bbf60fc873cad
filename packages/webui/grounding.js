// @ts-check
// Boxes and points in an answer, drawn on the image they are about. Qwen3-VL answers a
// grounding question with `bbox_2d` / `point_2d` objects on a 0–1000 scale of the image;
// the SDK's parseGrounding finds them and maps them onto the image as the user sees it
// (upright after EXIF orientation, at its original size). The answer gets a figure: that
// image with a box or point per detection in a colour per label, a legend and a Show
// toggle; hovering a box lights up the object's text in the answer, and the other way.
//
// The page runs under `style-src 'self'`: nothing here writes a style attribute. Positions
// are set through the CSSOM (`element.style.left = …`), which the policy allows.

import { parseGrounding } from '@visto/sdk'
import { label, t } from './i18n.js'

/**
 * @typedef {import('./state.js').Attachment} Attachment
 * @typedef {import('./state.js').Turn} Turn
 * @typedef {import('@visto/sdk').Detection} Detection
 * @typedef {{ start: number, end: number }} Span
 */

/** The CLI's annotate palette (packages/cli/src/annotate.ts): labels take them in order of first appearance. */
export const LABEL_COLOURS = ['#00e05a', '#ff2bd6', '#ffd000', '#00c8ff', '#ff6a00', '#8a5cff', '#ffffff', '#ff2020']

/**
 * The image an answer's coordinates refer to: the one image sent with the question, or
 * for a follow-up without images, the one image of the latest question that had any.
 * None when that question carried several images or a PDF: the model's coordinates do
 * not say which picture they mean, and a box drawn on the wrong one misleads.
 * @param {Attachment[]} images the question's @param {Turn[]} history the turns before it
 * @returns {Attachment | null}
 */
export function groundingImage(images, history) {
  const latest = images.length > 0 ? images : ([...history].reverse().find((turn) => turn.images.length > 0)?.images ?? [])
  const [only] = latest
  return latest.length === 1 && only.kind === 'image' && only.size ? only : null
}

/** @param {Detection[]} detections @returns {(label: string) => string} */
function colourFor(detections) {
  const labels = [...new Set(detections.map((d) => d.label))]
  return (name) => LABEL_COLOURS[labels.indexOf(name) % LABEL_COLOURS.length]
}

/** @param {number} value @param {number} whole */
const percent = (value, whole) => `${(value / whole) * 100}%`

/**
 * Where an <img> draws its picture inside the element it is positioned in (its offset
 * parent): the content box, shrunk or cropped as its object-fit says (object-position is
 * taken as the default, centred).
 * @param {HTMLImageElement} img
 */
function pictureBox(img) {
  const style = getComputedStyle(img)
  const px = (/** @type {string} */ value) => parseFloat(value) || 0
  const left = img.offsetLeft + px(style.borderLeftWidth) + px(style.paddingLeft)
  const top = img.offsetTop + px(style.borderTopWidth) + px(style.paddingTop)
  const width = img.clientWidth - px(style.paddingLeft) - px(style.paddingRight)
  const height = img.clientHeight - px(style.paddingTop) - px(style.paddingBottom)
  const natural = { width: img.naturalWidth || width, height: img.naturalHeight || height }
  const fit = style.objectFit
  let scale = { x: width / natural.width, y: height / natural.height }
  if (fit === 'contain' || fit === 'cover' || fit === 'none' || fit === 'scale-down') {
    const uniform = fit === 'none' ? 1 : fit === 'cover' ? Math.max(scale.x, scale.y) : Math.min(scale.x, scale.y)
    const chosen = fit === 'scale-down' ? Math.min(1, uniform) : uniform
    scale = { x: chosen, y: chosen }
  }
  const drawn = { width: natural.width * scale.x, height: natural.height * scale.y }
  return { left: left + (width - drawn.width) / 2, top: top + (height - drawn.height) / 2, width: drawn.width, height: drawn.height }
}

/**
 * The figure for an answer's detections on `image`, with the answer's text marked where
 * each object is written; null when the answer holds none.
 * @param {string} answer the answer as rendered into `textContainer`
 * @param {HTMLElement} textContainer @param {Attachment} image
 * @returns {HTMLElement | null}
 */
export function groundingFigure(answer, textContainer, image) {
  if (!image.size) return null
  const size = image.size
  const detections = parseGrounding(answer, size)
  if (detections.length === 0) return null
  const colour = colourFor(detections)

  // One group per object in the answer (an object may hold several boxes under one label).
  /** @type {Span[]} */
  const spans = []
  const groupOf = detections.map((detection) => {
    const index = spans.findIndex((span) => span.start === detection.span.start)
    return index >= 0 ? index : spans.push(detection.span) - 1
  })

  const figure = document.createElement('figure')
  figure.className = 'grounding'
  const picture = document.createElement('div')
  picture.className = 'grounding-picture'
  const img = document.createElement('img')
  img.src = image.dataUrl
  img.alt = image.name
  const layer = document.createElement('div')
  layer.className = 'grounding-layer'
  layer.setAttribute('aria-hidden', 'true')
  detections.forEach((detection, index) => {
    const mark = document.createElement('div')
    mark.dataset.group = String(groupOf[index])
    mark.style.setProperty('--colour', colour(detection.label))
    if (detection.kind === 'box') {
      const { x1, y1, x2, y2 } = detection.box
      mark.className = 'grounding-box'
      mark.style.left = percent(x1, size.width)
      mark.style.top = percent(y1, size.height)
      mark.style.width = percent(x2 - x1, size.width)
      mark.style.height = percent(y2 - y1, size.height)
      mark.title = `${detection.label} (${x1}, ${y1}) – (${x2}, ${y2})`
    } else {
      const { x, y } = detection.point
      mark.className = 'grounding-point'
      mark.style.left = percent(x, size.width)
      mark.style.top = percent(y, size.height)
      mark.title = `${detection.label} (${x}, ${y})`
    }
    if (detection.label) {
      const name = document.createElement('span')
      name.className = 'grounding-label'
      name.textContent = detection.label
      mark.append(name)
    }
    layer.append(mark)
  })
  picture.append(img, layer)

  // The layer covers exactly the drawn picture, whatever the image's box does on resize.
  const place = () => {
    const box = pictureBox(img)
    layer.style.left = `${box.left}px`
    layer.style.top = `${box.top}px`
    layer.style.width = `${box.width}px`
    layer.style.height = `${box.height}px`
  }
  img.addEventListener('load', place)
  new ResizeObserver(place).observe(img)

  const caption = document.createElement('figcaption')
  const legend = document.createElement('ul')
  legend.className = 'grounding-legend'
  const labels = [...new Set(detections.map((d) => d.label))]
  legend.append(
    ...labels.map((name) => {
      const item = document.createElement('li')
      item.style.setProperty('--colour', colour(name))
      const count = detections.filter((d) => d.label === name).length
      item.textContent = count > 1 ? `${name || '?'} ×${count}` : name || '?'
      return item
    }),
  )
  label(legend, 'aria-label', 'grounding.found', { count: detections.length })
  const toggle = document.createElement('label')
  toggle.className = 'grounding-toggle'
  const checkbox = document.createElement('input')
  checkbox.type = 'checkbox'
  checkbox.checked = true
  checkbox.addEventListener('change', () => {
    layer.hidden = !checkbox.checked
  })
  const words = document.createElement('span')
  words.dataset.i18n = 'grounding.show'
  words.textContent = t('grounding.show')
  toggle.append(checkbox, words)
  caption.append(legend, toggle)
  figure.append(picture, caption)

  const refs = markSpans(textContainer, answer, spans)
  refs.forEach((elements, group) => {
    for (const element of elements) element.style.setProperty('--colour', colour(detections[groupOf.indexOf(group)].label))
  })
  const marks = [...layer.children].map((mark) => /** @type {HTMLElement} */ (mark))
  /** @param {number} group @param {boolean} on */
  const highlight = (group, on) => {
    figure.classList.toggle('highlighting', on)
    for (const element of [...marks.filter((mark) => mark.dataset.group === String(group)), ...(refs[group] ?? [])]) element.classList.toggle('active', on)
  }
  for (const mark of marks) hover(mark, (on) => highlight(Number(mark.dataset.group), on))
  refs.forEach((elements, group) => {
    for (const element of elements) hover(element, (on) => highlight(group, on))
  })
  return figure
}

/** Pointer over and away (mouse, pen, or a finger's touch). @param {HTMLElement} element @param {(on: boolean) => void} change */
function hover(element, change) {
  element.addEventListener('pointerenter', () => change(true))
  element.addEventListener('pointerleave', () => change(false))
}

/**
 * Wraps the rendered text of each span of `answer` in `<span class="grounding-ref">`,
 * one per text node it crosses, and returns them per span (an empty list for a span not
 * found). Markdown changes the text between source and page (fences go, line breaks
 * become <br>), so the search ignores whitespace and goes forward from the previous match.
 * @param {HTMLElement} container @param {string} answer @param {Span[]} spans
 * @returns {HTMLElement[][]}
 */
function markSpans(container, answer, spans) {
  /** Every non-space character of the rendered text, and where it sits. */
  let compact = ''
  /** @type {Array<[Text, number]>} */
  const where = []
  const walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT, {
    // A code block's caption and copy button are the page's words, not the answer's.
    acceptNode: (node) => (node.parentElement?.closest('figcaption, button') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  })
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = /** @type {Text} */ (node)
    const value = text.data
    for (let offset = 0; offset < value.length; offset++) {
      if (/\s/.test(value[offset])) continue
      compact += value[offset]
      where.push([text, offset])
    }
  }

  /** @type {Array<{ group: number, node: Text, start: number, end: number }>} */
  const pieces = []
  let from = 0
  spans.forEach((span, group) => {
    const needle = answer.slice(span.start, span.end).replace(/\s+/g, '')
    const at = needle ? compact.indexOf(needle, from) : -1
    if (at < 0) return
    from = at + needle.length
    for (let i = at; i < from; i++) {
      const [node, offset] = where[i]
      const last = pieces[pieces.length - 1]
      if (last && last.group === group && last.node === node) last.end = offset + 1
      else pieces.push({ group, node, start: offset, end: offset + 1 })
    }
  })

  /** @type {HTMLElement[][]} */
  const refs = spans.map(() => [])
  // From the end backwards: splitting a text node keeps the offsets before the split valid.
  for (const { group, node, start, end } of pieces.reverse()) {
    const range = document.createRange()
    range.setStart(node, start)
    range.setEnd(node, end)
    const ref = document.createElement('span')
    ref.className = 'grounding-ref'
    ref.dataset.group = String(group)
    range.surroundContents(ref)
    refs[group].unshift(ref)
  }
  return refs
}
