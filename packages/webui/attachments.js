// @ts-check
// The images, PDFs and videos waiting in the composer: reading them from a pick, a drop
// or a paste, asking the server what each will cost (POST /v1/visto/image-cost,
// /v1/visto/document-preview for a PDF's pages, /v1/visto/video-preview for a clip's
// frames), and drawing them with their figures.

import { els } from './elements.js'
import { showEstimate } from './estimate.js'
import { t } from './i18n.js'
import { showNotice } from './notice.js'
import { errorMessage } from './server-errors.js'
import { headers } from './settings.js'
import { state } from './state.js'

/**
 * @typedef {import('./state.js').Attachment} Attachment
 * @typedef {import('./state.js').Detail} Detail
 */

// ---------------------------------------------------------------- costs

/** The EXIF-oriented size, as the server will see it; null if the browser cannot decode it. @param {File} file */
async function imageSize(file) {
  try {
    const bitmap = await createImageBitmap(file)
    const size = { width: bitmap.width, height: bitmap.height }
    bitmap.close()
    return size
  } catch {
    return null
  }
}

/** Asks the server what an image costs at its current detail level (the server's rule, not a copy). @param {Attachment} attachment */
export async function fetchCost(attachment) {
  if (attachment.kind === 'document') return fetchDocumentPreview(attachment)
  if (attachment.kind === 'video') return fetchVideoPreview(attachment)
  const detail = attachment.detail
  if (!attachment.size || attachment.costs[detail]) return
  try {
    const response = await fetch('/v1/visto/image-cost', {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ images: [{ ...attachment.size, detail }] }),
    })
    const figure = response.ok ? (await response.json())?.data?.[0] : undefined
    if (typeof figure?.error === 'string') attachment.costs[detail] = { error: figure.error }
    else if (typeof figure?.prompt_tokens === 'number') attachment.costs[detail] = { width: figure.width, height: figure.height, promptTokens: figure.prompt_tokens }
    else attachment.costs[detail] = { unavailable: true }
  } catch {
    // No figure is better than a wrong one; the image still sends.
    attachment.costs[detail] = { unavailable: true }
  }
}

/** Each page's text marker ("Page 2 of 12:"), which the server counts with the text. @param {number} pageCount */
function markerTokens(pageCount) {
  return Math.ceil(`Page ${pageCount} of ${pageCount}:`.length / 4)
}

/**
 * Asks the server how it will read a PDF at the current detail level: its pages, what
 * each costs and a thumbnail of each, or the 400 a question with it would get.
 * @param {Attachment} attachment
 */
async function fetchDocumentPreview(attachment) {
  const detail = attachment.detail
  if (attachment.costs[detail]) return
  try {
    const response = await fetch('/v1/visto/document-preview', {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ file_data: attachment.dataUrl, filename: attachment.name, detail }),
    })
    if (response.status === 400 || response.status === 413) {
      attachment.costs[detail] = { error: await errorMessage(response) }
      return
    }
    const preview = response.ok ? await response.json() : undefined
    if (!Array.isArray(preview?.pages) || typeof preview?.prompt_tokens !== 'number') {
      attachment.costs[detail] = { unavailable: true }
      return
    }
    /** @type {import('./state.js').DocumentPage[]} */
    const pages = preview.pages.map((/** @type {any} */ page) => ({
      number: page.number,
      width: page.width,
      height: page.height,
      promptTokens: page.prompt_tokens,
      // Only ever an image: anything else the server might send is not shown.
      thumbnail: typeof page.thumbnail === 'string' && page.thumbnail.startsWith('data:image/jpeg;base64,') ? page.thumbnail : NO_PREVIEW,
    }))
    attachment.costs[detail] = { pageCount: preview.page_count, pages, promptTokens: preview.prompt_tokens + pages.length * markerTokens(preview.page_count) }
  } catch {
    // No figure is better than a wrong one; the document still sends.
    attachment.costs[detail] = { unavailable: true }
  }
}

/**
 * Asks the server how it will read a clip at the current detail level: the images it
 * sends (each a pair of frames after its timestamp), what each costs and a thumbnail of
 * each, or the 400 a question with it would get.
 * @param {Attachment} attachment
 */
async function fetchVideoPreview(attachment) {
  const detail = attachment.detail
  if (attachment.costs[detail]) return
  try {
    const response = await fetch('/v1/visto/video-preview', {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ video_data: attachment.dataUrl, detail }),
    })
    if (response.status === 400 || response.status === 413) {
      attachment.costs[detail] = { error: await errorMessage(response) }
      return
    }
    const preview = response.ok ? await response.json() : undefined
    if (!Array.isArray(preview?.images) || typeof preview?.prompt_tokens !== 'number') {
      attachment.costs[detail] = { unavailable: true }
      return
    }
    /** @type {import('./state.js').VideoFrame[]} */
    const images = preview.images.map((/** @type {any} */ image) => ({
      seconds: Number(image.seconds),
      timestamp: String(image.timestamp),
      promptTokens: image.prompt_tokens,
      // Only ever an image: anything else the server might send is not shown.
      thumbnail: typeof image.thumbnail === 'string' && image.thumbnail.startsWith('data:image/jpeg;base64,') ? image.thumbnail : NO_PREVIEW,
    }))
    attachment.costs[detail] = { duration: preview.duration, frames: preview.frames, width: preview.width, height: preview.height, images, promptTokens: preview.prompt_tokens }
  } catch {
    // No figure is better than a wrong one; the clip still sends.
    attachment.costs[detail] = { unavailable: true }
  }
}

/** Asks again for every figure the server could not give (say, before the API key was entered). */
export async function refreshCosts() {
  for (const attachment of state.attachments) {
    for (const [detail, cost] of Object.entries(attachment.costs)) if (cost && 'unavailable' in cost) delete attachment.costs[/** @type {Detail} */ (detail)]
  }
  await Promise.all(state.attachments.map(fetchCost))
  renderAttachments()
}

// ---------------------------------------------------------------- reading files

/** @param {File} file @returns {Promise<string>} */
function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader()
    reader.onload = () => resolve(/** @type {string} */ (reader.result))
    reader.onerror = () => reject(reader.error ?? new Error(file.name))
    reader.readAsDataURL(file)
  })
}

/** The files being read, in turn: a second drop waits for the first so the order stays. */
let adding = Promise.resolve()

/** @param {File} file */
const isPdf = (file) => file.type === 'application/pdf' || (!file.type && /\.pdf$/i.test(file.name))

/** @param {File} file */
const isVideo = (file) => file.type.startsWith('video/') || (!file.type && /\.(mp4|m4v|mov|webm|mkv)$/i.test(file.name))

/** Adds image, PDF and video files (from the picker, a drop or a paste), in the order they came. @param {File[]} files */
export function addFiles(files) {
  adding = adding.then(() => readFiles(files))
  return adding
}

/** Only a first sieve on the declared type: the server checks the bytes. @param {File[]} files */
async function readFiles(files) {
  /** @type {string[]} */
  const skipped = []
  /** @type {Attachment[]} */
  const added = []
  for (const file of files) {
    // An empty type is common for .bmp and friends on some systems: let the server judge.
    const pdf = isPdf(file)
    const video = isVideo(file)
    if (file.type && !file.type.startsWith('image/') && !pdf && !video) {
      skipped.push(file.name)
      continue
    }
    try {
      /** @type {Attachment} */
      const attachment = pdf
        ? { kind: 'document', name: file.name || 'document.pdf', mime: 'application/pdf', dataUrl: await readAsDataUrl(file), detail: 'auto', size: null, costs: {} }
        : video
          ? { kind: 'video', name: file.name || 'video.mp4', mime: file.type || 'video/mp4', dataUrl: await readAsDataUrl(file), detail: 'auto', size: null, costs: {} }
          : {
              kind: 'image',
              name: file.name || 'image.png',
              mime: file.type || 'image/jpeg',
              dataUrl: await readAsDataUrl(file),
              detail: 'auto',
              size: await imageSize(file),
              costs: {},
            }
      state.attachments.push(attachment)
      added.push(attachment)
    } catch {
      skipped.push(`${file.name} (${t('notice.unreadable')})`)
    }
  }
  if (skipped.length) showNotice('notice.notAttached', 'error', { names: skipped.join(', ') })
  renderAttachments()
  await Promise.all(added.map(fetchCost))
  renderAttachments()
}

// ---------------------------------------------------------------- drawing

const NO_PREVIEW =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="72" height="72" viewBox="0 0 72 72"><rect width="72" height="72" fill="#9aa1ac" opacity=".25"/>' +
      '<text x="36" y="40" font-family="sans-serif" font-size="22" text-anchor="middle" fill="#6b7280">?</text></svg>',
  )

const VIDEO_ICON =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="72" height="72" viewBox="0 0 72 72"><rect width="72" height="72" fill="#9aa1ac" opacity=".25"/>' +
      '<path d="M28 24 L50 36 L28 48 Z" fill="#6b7280"/></svg>',
  )

const PDF_ICON =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="72" height="72" viewBox="0 0 72 72"><rect width="72" height="72" fill="#9aa1ac" opacity=".25"/>' +
      '<text x="36" y="42" font-family="sans-serif" font-size="18" font-weight="bold" text-anchor="middle" fill="#6b7280">PDF</text></svg>',
  )

/** What stands for an attachment: the image itself, or a document's first page once the server has drawn it. */
/** @param {Attachment} image */
export function thumbnail(image) {
  const img = document.createElement('img')
  if (image.kind === 'document') {
    const preview = Object.values(image.costs).find((cost) => cost && 'pages' in cost && cost.pages.length > 0)
    img.src = preview && 'pages' in preview ? preview.pages[0].thumbnail : PDF_ICON
  } else if (image.kind === 'video') {
    const preview = Object.values(image.costs).find((cost) => cost && 'images' in cost && cost.images.length > 0)
    img.src = preview && 'images' in preview ? preview.images[0].thumbnail : VIDEO_ICON
  } else {
    img.src = image.dataUrl
  }
  img.alt = image.name
  img.decoding = 'async'
  // A file the browser cannot show may still be one the server can read (or explain why not).
  img.addEventListener(
    'error',
    () => {
      img.classList.add('broken')
      img.src = NO_PREVIEW
    },
    { once: true },
  )
  return img
}

/**
 * The figure under an attachment and its longer tooltip.
 * @param {Attachment} image
 * @returns {{ text: string, title: string, refused?: boolean }}
 */
function costText(image) {
  if (image.kind === 'document') {
    const cost = image.costs[image.detail]
    if (!cost) return { text: t('attachment.measuring'), title: '' }
    if ('unavailable' in cost) return { text: t('attachment.document'), title: '' }
    if ('error' in cost) return { text: t('attachment.refused', { reason: cost.error }), title: cost.error, refused: true }
    if (!('pages' in cost)) return { text: '', title: '' }
    const values = { pages: cost.pages.length, pageCount: cost.pageCount, tokens: cost.promptTokens }
    return { text: t('document.cost', values), title: t('document.costTitle', values) }
  }
  if (image.kind === 'video') {
    const cost = image.costs[image.detail]
    if (!cost) return { text: t('attachment.measuring'), title: '' }
    if ('unavailable' in cost) return { text: t('attachment.video'), title: '' }
    if ('error' in cost) return { text: t('attachment.refused', { reason: cost.error }), title: cost.error, refused: true }
    if (!('images' in cost)) return { text: '', title: '' }
    const values = { images: cost.images.length, frames: cost.frames, seconds: Number(cost.duration.toFixed(1)), width: cost.width, height: cost.height, tokens: cost.promptTokens }
    return { text: t('video.cost', values), title: t('video.costTitle', values) }
  }
  if (!image.size) return { text: t('attachment.unknownSize'), title: '' }
  const cost = image.costs[image.detail]
  if (!cost) return { text: t('attachment.measuring'), title: '' }
  // A server without the cost endpoint: the original size is all there is to tell.
  if ('unavailable' in cost) return { text: `${image.size.width}×${image.size.height}`, title: '' }
  if ('error' in cost) return { text: t('attachment.refused', { reason: cost.error }), title: cost.error, refused: true }
  if (!('width' in cost)) return { text: '', title: '' }
  const values = { width: cost.width, height: cost.height, tokens: cost.promptTokens }
  return { text: t('attachment.cost', values), title: t('attachment.costTitle', values) }
}

/** A document's pages as the server will send them: each page's thumbnail and what it costs. */
/** @param {Attachment} image */
function pageStrip(image) {
  const strip = document.createElement('ol')
  strip.className = 'pages'
  strip.setAttribute('aria-label', t('document.pages', { name: image.name }))
  const cost = image.costs[image.detail]
  if (!cost || !('pages' in cost)) return strip
  strip.append(
    ...cost.pages.map((page) => {
      const item = document.createElement('li')
      item.className = 'page'
      const values = { number: page.number, pageCount: cost.pageCount, tokens: page.promptTokens, width: page.width, height: page.height }
      item.title = t('document.pageTitle', values)
      const img = document.createElement('img')
      img.src = page.thumbnail
      img.alt = t('document.page', values)
      img.decoding = 'async'
      const caption = document.createElement('span')
      caption.className = 'page-cost'
      caption.textContent = t('document.pageCost', values)
      item.append(img, caption)
      return item
    }),
  )
  return strip
}

/** A clip as the server will send it: each image's thumbnail (a pair of frames), its timestamp and what it costs. */
/** @param {Attachment} image */
function frameStrip(image) {
  const strip = document.createElement('ol')
  strip.className = 'pages frames'
  strip.setAttribute('aria-label', t('video.frames', { name: image.name }))
  const cost = image.costs[image.detail]
  if (!cost || !('images' in cost)) return strip
  strip.append(
    ...cost.images.map((frame) => {
      const item = document.createElement('li')
      item.className = 'page frame'
      // The time as the model reads it in the timestamp text (Python's rounding, not toFixed's).
      const values = { seconds: /[\d.]+/.exec(frame.timestamp)?.[0] ?? frame.seconds.toFixed(1), tokens: frame.promptTokens, width: cost.width, height: cost.height }
      item.title = t('video.frameTitle', values)
      const img = document.createElement('img')
      img.src = frame.thumbnail
      img.alt = t('video.frame', values)
      img.decoding = 'async'
      const caption = document.createElement('span')
      caption.className = 'page-cost'
      caption.textContent = t('video.frameCost', values)
      item.append(img, caption)
      return item
    }),
  )
  return strip
}

export function renderAttachments() {
  const focused = document.activeElement instanceof HTMLElement && els.attachments.contains(document.activeElement) ? document.activeElement.dataset.focusKey : undefined
  els.attachments.replaceChildren(
    ...state.attachments.map((image, index) => {
      const item = document.createElement('li')
      item.className = 'attachment'
      item.title = image.name
      const remove = document.createElement('button')
      remove.type = 'button'
      remove.className = 'remove'
      remove.textContent = '×'
      remove.dataset.focusKey = `remove-${index}`
      remove.setAttribute('aria-label', t('attachment.remove', { name: image.name }))
      remove.addEventListener('click', () => {
        state.attachments.splice(index, 1)
        renderAttachments()
        els.question.focus()
      })

      const detail = document.createElement('select')
      detail.className = 'detail'
      detail.dataset.focusKey = `detail-${index}`
      detail.setAttribute('aria-label', t('attachment.detail', { name: image.name }))
      for (const level of ['low', 'auto', 'high']) {
        const option = document.createElement('option')
        option.value = level
        option.textContent = t(`attachment.detail.${level}`)
        option.selected = image.detail === level
        detail.append(option)
      }
      detail.addEventListener('change', async () => {
        image.detail = /** @type {'low' | 'auto' | 'high'} */ (detail.value)
        renderAttachments()
        await fetchCost(image)
        renderAttachments()
      })

      const cost = document.createElement('p')
      cost.className = 'cost'
      const figure = costText(image)
      cost.textContent = figure.text
      cost.title = figure.title
      if (figure.refused) cost.dataset.kind = 'error'

      const picture = document.createElement('div')
      picture.className = 'picture'
      picture.append(thumbnail(image), remove)
      item.append(picture, detail, cost)
      if (image.kind === 'document' || image.kind === 'video') {
        // A clip is laid out as a document is: its name, then its strip of what the model sees.
        item.classList.add('document')
        if (image.kind === 'video') item.classList.add('video')
        const name = document.createElement('p')
        name.className = 'name'
        name.textContent = image.name
        item.append(name, image.kind === 'video' ? frameStrip(image) : pageStrip(image))
      }
      return item
    }),
  )
  if (focused) /** @type {HTMLElement | null} */ (els.attachments.querySelector(`[data-focus-key="${focused}"]`))?.focus()
  showEstimate()
}

// ---------------------------------------------------------------- picking, pasting, dropping

/** @param {DragEvent} event */
const carriesFiles = (event) => event.dataTransfer?.types.includes('Files') ?? false

/** Files come from the picker, a paste anywhere on the page, or a drop anywhere on it. */
export function wireAttachmentInputs() {
  els.fileInput.addEventListener('change', () => {
    const files = [...(els.fileInput.files ?? [])]
    els.fileInput.value = ''
    void addFiles(files)
  })

  document.addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files ?? [])]
    if (files.length === 0) return
    event.preventDefault()
    void addFiles(files)
  })

  let dragDepth = 0
  document.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return
    dragDepth++
    els.dropOverlay.hidden = false
  })
  document.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1)
    if (dragDepth === 0) els.dropOverlay.hidden = true
  })
  document.addEventListener('dragover', (event) => {
    if (carriesFiles(event)) event.preventDefault()
  })
  document.addEventListener('drop', (event) => {
    if (!carriesFiles(event)) return
    event.preventDefault()
    dragDepth = 0
    els.dropOverlay.hidden = true
    void addFiles([...(event.dataTransfer?.files ?? [])])
  })
}
