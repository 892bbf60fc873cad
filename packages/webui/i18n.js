// @ts-check
// Every string the page shows of its own, one table per language. Messages from the
// server are shown as the server sent them. `{name}` marks a value filled in at run time.

export const en = {
  'page.title': 'Visto',
  'header.model': 'model',
  'header.modelLabel': 'Model',
  'header.language': 'Language',
  'header.newChat': 'New chat',
  'health.label': 'Server status',
  'health.connecting': 'connecting…',
  'health.ready': 'ready',
  'health.readyTitle': '{running} running, {queued} queued',
  'health.loading': 'loading {percent}',
  'health.unavailable': 'unavailable',
  'health.offline': 'offline',
  'health.offlineTitle': 'The server cannot be reached',
  'chat.label': 'Chat',
  'chat.emptyHint': 'Attach an image or a PDF, ask a question, and the answer streams in here.',
  'chat.emptyHint2': 'Drop or paste images and PDFs anywhere on the page. Later questions can refer to the same ones.',
  'chat.log': 'Conversation',
  'settings.label': 'Settings',
  'settings.title': 'Settings',
  'settings.temperature': 'Temperature',
  'settings.maxTokens': 'Max tokens',
  'settings.apiKey': 'API key',
  'settings.optional': 'optional',
  'composer.label': 'Ask about images',
  'composer.attached': 'Attached images',
  'composer.attach': 'Attach images',
  'composer.attachTitle': 'Attach images or PDFs (or drop / paste them anywhere)',
  'composer.images': 'Images',
  'composer.question': 'Question',
  'composer.defaultQuestion': 'Describe the scene in this image in detail',
  'composer.send': 'Send',
  'composer.stop': 'Stop',
  'composer.ocr': 'OCR',
  'composer.ocrTitle': 'Read the text in the attached images',
  'composer.ocrQuestion': 'Read out all the text in this image exactly as written, line by line. Output only the text.',
  'composer.find': 'Find',
  'composer.findTitle': 'Find and outline objects in the attached image: type what to look for (for example “cat, cup”), or leave it empty for everything',
  'composer.dropHint': 'Drop images or PDFs to attach',
  'composer.estimate': 'Time to first token ≈ {seconds} ({tokens} prompt tokens at {speed} tokens/s)',
  'composer.estimateLabel': 'Estimated wait',
  'attachment.remove': 'Remove {name}',
  'attachment.detail': 'Detail for {name}',
  'attachment.detail.low': 'low',
  'attachment.detail.auto': 'auto',
  'attachment.detail.high': 'high',
  'attachment.measuring': 'measuring…',
  'attachment.cost': '{width}×{height} · {tokens} tokens',
  'attachment.costTitle': 'Sent as {width}×{height} after resizing: {tokens} prompt tokens',
  'attachment.refused': 'refused: {reason}',
  'attachment.unknownSize': 'size unknown',
  'attachment.document': 'PDF document',
  'document.cost': '{pages} pages · {tokens} tokens',
  'document.costTitle': '{pages} of the document\'s {pageCount} pages, each sent as an image with a "Page N of {pageCount}:" marker: about {tokens} prompt tokens in all',
  'document.pages': 'Pages of {name}',
  'document.page': 'Page {number} of {pageCount}',
  'document.pageTitle': 'Page {number}: sent as {width}×{height}, {tokens} prompt tokens',
  'document.pageCost': 'p. {number} · {tokens}',
  'attachment.video': 'Video',
  'video.cost': '{images} images · {tokens} tokens',
  'video.costTitle': '{seconds} s of video: {frames} frames sampled, each pair sent as one {width}×{height} image after its timestamp: {tokens} prompt tokens in all',
  'video.frames': 'Frames of {name}',
  'video.frame': 'Frames at {seconds} s',
  'video.frameTitle': 'At {seconds} s: sent as {width}×{height}, {tokens} prompt tokens',
  'video.frameCost': '{seconds} s · {tokens}',
  'notice.needKey': 'This server needs an API key: enter it under Settings.',
  'notice.modelsFailed': 'Could not list models: {message}',
  'notice.notAttached': 'Not attached (not an image or PDF): {names}',
  'notice.empty': 'Type a question or attach an image first.',
  'notice.ocrNeedsImage': 'Attach an image to read its text.',
  'notice.findNeedsImage': 'Attach an image to find things in it.',
  'notice.unreadable': 'unreadable',
  'notice.copied': 'Copied',
  'notice.copyFailed': 'Copy failed: select the text and copy it by hand',
  'model.unknown': 'unknown',
  'model.none': 'none',
  'message.question': 'Question {turn}',
  'message.answer': 'Answer {turn}',
  'message.stats': 'Answer statistics',
  'message.thinking': 'thinking…',
  'message.firstToken': 'first token {seconds}',
  'message.estimated': ' (estimated {seconds})',
  'message.usage': '{prompt} prompt + {completion} completion = {total} tokens',
  'message.speed': '{speed} tokens/s',
  'message.stopped': 'stopped',
  'message.cutShort': ' · cut short at the max tokens limit: raise “Max tokens” in Settings',
  'message.stoppedEmpty': '(stopped before any text)',
  'message.emptyAnswer': '(empty answer)',
  'message.failedAfter': 'failed after {seconds}',
  'message.retry': 'Retry',
  'message.ocrText': 'Text read from the image',
  'message.copy': 'Copy',
  'message.copyCode': 'Copy code',
  'message.copyText': 'Copy text',
  'grounding.found': 'Found in the image: {count}',
  'grounding.show': 'Show boxes',
  'error.noBody': 'The server sent no response body',
  'error.serverError': 'The server reported an error',
  'error.closedEarly': 'The connection closed before the answer was complete',
  'error.unreachable': 'Could not reach the server: {message}',
  'code.title': 'Code for this conversation',
  'code.button': 'Code',
  'code.hint': 'The same request from your own program. Images are read from files with the names you attached; put them next to the script.',
  'code.tabs': 'Language',
  'code.api': 'API',
  'code.api.label': 'Which API the code calls',
  'code.api.chat': 'Chat Completions',
  'code.api.responses': 'Responses',
  'code.copy': 'Copy {language}',
  'code.empty': 'Ask something first: the code for the conversation appears here.',
  'code.pending': 'The next question',
  'code.close': 'Close',
  'unit.ms': '{value} ms',
  'unit.seconds': '{value} s',
  'unit.minutes': '{minutes} min',
  'unit.hours': '{hours} h {minutes} min',
  'unit.days': '{days} d {hours} h',
  'unit.tokensPerSecond': '{rate} tok/s',
  'batches.title': 'Batches',
  'batches.item': 'Batch {id}',
  'batches.progress': 'Progress',
  'batches.counts': '{completed} done, {failed} failed of {total}',
  'batches.download.results': 'Download results',
  'batches.download.errors': 'Download errors',
  'batches.downloadFailed': 'Download failed: {message}',
  'batches.listFailed': 'Cannot list batches: {message}',
  'batches.empty': 'No batches yet. Submit one with the Batch API or `visto batch … --server`.',
  'status.title': 'Server status',
  'status.model': 'Model',
  'status.engine': 'Engine',
  'status.uptime': 'Uptime',
  'status.promptSpeed': 'Prompt speed',
  'status.firstToken': 'First token (p50)',
  'status.latency': 'Latency',
  'status.latencyValue': 'p50 {p50} · p95 {p95}',
  'status.success': 'Success rate',
  'status.successValue': '{rate} of {requests}',
  'status.requests': '{n} requests',
  'status.tokens': 'Tokens/s',
  'status.tokensValue': 'generation {completion} · prompt {prompt}',
  'status.queue': 'Queue',
  'status.queueValue': '{queued} waiting · {running} running',
  'status.lastMinutes': 'last {minutes} min',
  'status.noData': 'no requests yet',
  'status.needsKey': 'Enter the API key in Settings to see the server status.',
  'status.unreachable': 'The server did not answer ({status}).',
  'status.offline': 'The server cannot be reached.',
  'status.legendCompletion': 'generation',
  'status.legendPrompt': 'prompt',
  'status.legendQueued': 'waiting',
  'status.legendRunning': 'running',
}

/** @type {typeof en} */
export const zh = {
  'page.title': 'Visto',
  'header.model': '模型',
  'header.modelLabel': '模型',
  'header.language': '语言',
  'header.newChat': '新对话',
  'health.label': '服务状态',
  'health.connecting': '连接中…',
  'health.ready': '就绪',
  'health.readyTitle': '{running} 个运行中，{queued} 个排队',
  'health.loading': '加载中 {percent}',
  'health.unavailable': '不可用',
  'health.offline': '离线',
  'health.offlineTitle': '无法连接服务器',
  'chat.label': '对话',
  'chat.emptyHint': '添加图片或 PDF 并提问，回答会实时显示在这里。',
  'chat.emptyHint2': '可以把图片和 PDF 拖放或粘贴到页面任意位置。后续提问可以继续针对它们。',
  'chat.log': '对话记录',
  'settings.label': '设置',
  'settings.title': '设置',
  'settings.temperature': '温度',
  'settings.maxTokens': '最大 token 数',
  'settings.apiKey': 'API 密钥',
  'settings.optional': '可选',
  'composer.label': '就图片提问',
  'composer.attached': '已添加的图片',
  'composer.attach': '添加图片',
  'composer.attachTitle': '添加图片或 PDF（也可拖放或粘贴到任意位置）',
  'composer.images': '图片',
  'composer.question': '问题',
  'composer.defaultQuestion': '请详细描述这张图片中的场景',
  'composer.send': '发送',
  'composer.stop': '停止',
  'composer.ocr': '识别文字',
  'composer.ocrTitle': '识别所添加图片中的文字',
  'composer.ocrQuestion': '请逐行准确识别并输出这张图片中的所有文字，只输出文字内容。',
  'composer.find': '查找',
  'composer.findTitle': '在所添加的图片中查找并框出目标：输入要找的东西（例如“猫, 杯子”），留空则找出所有物体',
  'composer.dropHint': '松开即可添加图片或 PDF',
  'composer.estimate': '首个 token 预计约 {seconds}（{tokens} 个提示 token，每秒 {speed} 个）',
  'composer.estimateLabel': '预计等待',
  'attachment.remove': '移除 {name}',
  'attachment.detail': '{name} 的精细度',
  'attachment.detail.low': '低',
  'attachment.detail.auto': '自动',
  'attachment.detail.high': '高',
  'attachment.measuring': '计算中…',
  'attachment.cost': '{width}×{height} · {tokens} token',
  'attachment.costTitle': '缩放后以 {width}×{height} 发送：{tokens} 个提示 token',
  'attachment.refused': '会被拒绝：{reason}',
  'attachment.unknownSize': '尺寸未知',
  'attachment.document': 'PDF 文档',
  'document.cost': '{pages} 页 · {tokens} token',
  'document.costTitle': '文档共 {pageCount} 页，发送其中 {pages} 页，每页作为一张图片并带有“Page N of {pageCount}:”标记：合计约 {tokens} 个提示 token',
  'document.pages': '{name} 的页面',
  'document.page': '第 {number} 页，共 {pageCount} 页',
  'document.pageTitle': '第 {number} 页：以 {width}×{height} 发送，{tokens} 个提示 token',
  'document.pageCost': '第 {number} 页 · {tokens}',
  'attachment.video': '视频',
  'video.cost': '{images} 张图片 · {tokens} token',
  'video.costTitle': '{seconds} 秒视频：抽取 {frames} 帧，每两帧合为一张 {width}×{height} 的图片，前附时间戳：合计 {tokens} 个提示 token',
  'video.frames': '{name} 的画面',
  'video.frame': '{seconds} 秒处的画面',
  'video.frameTitle': '{seconds} 秒处：以 {width}×{height} 发送，{tokens} 个提示 token',
  'video.frameCost': '{seconds} 秒 · {tokens}',
  'notice.needKey': '此服务器需要 API 密钥：请在“设置”中填写。',
  'notice.modelsFailed': '无法获取模型列表：{message}',
  'notice.notAttached': '未添加（不是图片或 PDF）：{names}',
  'notice.empty': '请先输入问题或添加图片。',
  'notice.ocrNeedsImage': '请先添加一张图片再识别文字。',
  'notice.findNeedsImage': '请先添加一张图片再查找目标。',
  'notice.unreadable': '无法读取',
  'notice.copied': '已复制',
  'notice.copyFailed': '复制失败：请手动选择文本并复制',
  'model.unknown': '未知',
  'model.none': '无',
  'message.question': '问题 {turn}',
  'message.answer': '回答 {turn}',
  'message.stats': '回答统计',
  'message.thinking': '思考中…',
  'message.firstToken': '首个 token {seconds}',
  'message.estimated': '（预计 {seconds}）',
  'message.usage': '提示 {prompt} + 生成 {completion} = {total} 个 token',
  'message.speed': '每秒 {speed} 个 token',
  'message.stopped': '已停止',
  'message.cutShort': ' · 达到最大 token 数而被截断：请在“设置”中调高“最大 token 数”',
  'message.stoppedEmpty': '（在输出任何文字前已停止）',
  'message.emptyAnswer': '（空回答）',
  'message.failedAfter': '{seconds} 后失败',
  'message.retry': '重试',
  'message.ocrText': '从图片中识别出的文字',
  'message.copy': '复制',
  'message.copyCode': '复制代码',
  'message.copyText': '复制文字',
  'grounding.found': '图中找到 {count} 个目标',
  'grounding.show': '显示标注',
  'error.noBody': '服务器没有返回内容',
  'error.serverError': '服务器报告了一个错误',
  'error.closedEarly': '回答尚未完成，连接就已关闭',
  'error.unreachable': '无法连接服务器：{message}',
  'code.title': '本次对话的代码',
  'code.button': '代码',
  'code.hint': '在你自己的程序中发送同样的请求。图片按你添加时的文件名从文件读取，请把图片放在脚本旁边。',
  'code.tabs': '语言',
  'code.api': '接口',
  'code.api.label': '代码调用哪个接口',
  'code.api.chat': 'Chat Completions',
  'code.api.responses': 'Responses',
  'code.copy': '复制 {language}',
  'code.empty': '先提一个问题，本次对话的代码会显示在这里。',
  'code.pending': '下一个问题',
  'code.close': '关闭',
  'unit.ms': '{value} 毫秒',
  'unit.seconds': '{value} 秒',
  'unit.minutes': '{minutes} 分钟',
  'unit.hours': '{hours} 小时 {minutes} 分钟',
  'unit.days': '{days} 天 {hours} 小时',
  'unit.tokensPerSecond': '每秒 {rate} 个 token',
  'batches.title': '批处理',
  'batches.item': '批处理 {id}',
  'batches.progress': '进度',
  'batches.counts': '共 {total} 条：完成 {completed}，失败 {failed}',
  'batches.download.results': '下载结果',
  'batches.download.errors': '下载错误',
  'batches.downloadFailed': '下载失败：{message}',
  'batches.listFailed': '无法列出批处理：{message}',
  'batches.empty': '还没有批处理。可用 Batch API 或 `visto batch … --server` 提交。',
  'status.title': '服务器状态',
  'status.model': '模型',
  'status.engine': '推理引擎',
  'status.uptime': '已运行',
  'status.promptSpeed': '提示处理速度',
  'status.firstToken': '首个 token（p50）',
  'status.latency': '延迟',
  'status.latencyValue': 'p50 {p50} · p95 {p95}',
  'status.success': '成功率',
  'status.successValue': '{requests}，成功 {rate}',
  'status.requests': '{n} 个请求',
  'status.tokens': '每秒 token 数',
  'status.tokensValue': '生成 {completion} · 提示 {prompt}',
  'status.queue': '队列',
  'status.queueValue': '{queued} 个排队 · {running} 个运行中',
  'status.lastMinutes': '最近 {minutes} 分钟',
  'status.noData': '尚无请求',
  'status.needsKey': '请在“设置”中填写 API 密钥以查看服务器状态。',
  'status.unreachable': '服务器没有响应（{status}）。',
  'status.offline': '无法连接服务器。',
  'status.legendCompletion': '生成',
  'status.legendPrompt': '提示',
  'status.legendQueued': '排队',
  'status.legendRunning': '运行中',
}

export const languages = /** @type {const} */ ({ en: 'English', zh: '中文' })
/** @typedef {keyof typeof languages} Language */
/** @type {Record<Language, Record<string, string | undefined>>} */
const tables = { en, zh }
const STORAGE_KEY = 'visto.language'

/**
 * `zh-*` browsers get Chinese, everyone else English; a saved choice wins.
 * @param {string | null} saved @param {readonly string[] | undefined} browserLanguages
 * @returns {Language}
 */
export function pickLanguage(saved, browserLanguages) {
  if (saved === 'en' || saved === 'zh') return saved
  const first = browserLanguages?.[0] ?? ''
  return /^zh\b/i.test(first) ? 'zh' : 'en'
}

/** @type {Language} */
let current = 'en'
/** @type {Array<(lang: Language) => void>} */
const listeners = []

export function language() {
  return current
}

/** @param {string} lang anything but 'zh' means English @param {boolean} [remember] whether to keep it for the next visit */
export function setLanguage(lang, remember = true) {
  current = lang === 'zh' ? 'zh' : 'en'
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, current)
    } catch {
      // Storage can be disabled; the choice then lasts as long as the page.
    }
  }
  document.documentElement.lang = current === 'zh' ? 'zh-CN' : 'en'
  translatePage()
  for (const listener of listeners) listener(current)
}

/**
 * Calls `listener` after each language switch, once the page's marked text is translated:
 * for views whose words are built from live values and so cannot be marked with data-i18n.
 * @param {(lang: Language) => void} listener
 */
export function onLanguageChange(listener) {
  listeners.push(listener)
}

export function initialLanguage() {
  let saved = null
  try {
    saved = localStorage.getItem(STORAGE_KEY)
  } catch {
    // See setLanguage.
  }
  return pickLanguage(saved, navigator.languages?.length ? navigator.languages : [navigator.language])
}

/**
 * The string for `key` in the current language, with `{name}` filled from `values`.
 * @param {string} key @param {Record<string, unknown>} [values]
 */
export function t(key, values = {}) {
  const text = tables[current][key] ?? tables.en[key] ?? key
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole))
}

/** A duration in seconds in the current language: `0.85 s`, `2.35 s`, `12.3 s`. @param {number} ms */
export function seconds(ms) {
  return t('unit.seconds', { value: (ms / 1000).toFixed(ms < 10_000 ? 2 : 1) })
}

/**
 * Marks an element the script built so a language switch re-translates its attribute.
 * @param {HTMLElement | SVGElement} element @param {string} attribute @param {string} key @param {Record<string, unknown>} [values]
 */
export function label(element, attribute, key, values = {}) {
  element.setAttribute(`data-i18n-${attribute}`, key)
  if (Object.keys(values).length) element.dataset.i18nValues = JSON.stringify(values)
  element.setAttribute(attribute, t(key, values))
}

/**
 * Fills the page's static text from the table: `data-i18n` sets textContent, and
 * `data-i18n-<attribute>` (placeholder, aria-label, title) sets that attribute.
 * @param {ParentNode} [root]
 */
export function translatePage(root = document) {
  /** Marked elements, HTML or SVG: both have a dataset. @param {string} selector */
  const marked = (selector) => /** @type {NodeListOf<HTMLElement | SVGElement>} */ (root.querySelectorAll(selector))
  // `data-i18n-values` (JSON) fills the placeholders of elements the script created.
  const values = (/** @type {HTMLElement | SVGElement} */ element) => (element.dataset.i18nValues ? JSON.parse(element.dataset.i18nValues) : {})
  // The selectors guarantee the data attribute each key is read from.
  for (const element of marked('[data-i18n]')) element.textContent = t(/** @type {string} */ (element.dataset.i18n), values(element))
  for (const attribute of ['placeholder', 'aria-label', 'title']) {
    const dataKey = `i18n${attribute.replace(/(^|-)(\w)/g, (_, _dash, c) => c.toUpperCase())}`
    for (const element of marked(`[data-i18n-${attribute}]`)) element.setAttribute(attribute, t(/** @type {string} */ (element.dataset[dataKey]), values(element)))
  }
  document.title = t('page.title')
}
