// @ts-check
// The conversation on screen as code someone can run: Python in the style of the
// tutorials this service follows (requests, base64, json.dumps, only Content-Type), curl,
// and JavaScript with the official `openai` package; or the same conversation for the
// Responses API (`client.responses.create` in the official Python and JavaScript clients,
// curl), or for Anthropic's Messages API with `@anthropic-ai/sdk`. Images and PDFs are read
// from files named like the attachments, never pasted in as base64; a PDF goes as a `file`
// part (`input_file` in the Responses API, a `document` block in the Messages API), a
// video as a `video_url` part.

/**
 * @typedef {{ kind?: 'image' | 'document' | 'video', name: string, mime: string, detail: 'low' | 'auto' | 'high' }} ImageRef
 * @typedef {{ role: 'user' | 'assistant', text: string, images: ImageRef[] }} Turn
 * @typedef {{ baseUrl: string, model: string, temperature: number, maxTokens: number, needsKey: boolean }} Target
 * @typedef {'python' | 'javascript'} LiteralLanguage
 */

/** Raw source for a value that is an expression, not a literal. */
class Raw {
  /** @param {string} source */
  constructor(source) {
    this.source = source
  }
}

/**
 * File names as the code will use them: one per image, made unique (two pasted images are
 * both called "image.png"), and never a path.
 * @param {Turn[]} turns
 */
export function imageFileNames(turns) {
  /** @type {Set<string>} */
  const used = new Set()
  /** @type {Map<ImageRef, string>} */
  const names = new Map()
  for (const turn of turns) {
    for (const image of turn.images) {
      if (names.has(image)) continue
      // Every string is quoted for its language; only what cannot be a plain file name goes.
      const clean = (image.name || 'image.png').replace(/[/\\\p{Cc}]/gu, '_').replace(/^[.\s-]+/, '') || 'image.png'
      const dot = clean.lastIndexOf('.')
      const [stem, ext] = dot > 0 ? [clean.slice(0, dot), clean.slice(dot)] : [clean, '']
      let candidate = clean
      for (let n = 2; used.has(candidate); n++) candidate = `${stem}-${n}${ext}`
      used.add(candidate)
      names.set(image, candidate)
    }
  }
  return names
}

/**
 * One turn as the OpenAI message the page sends, so the code shown and the request made
 * cannot drift apart; `source(image)` gives each attachment's URL (here a literal or an
 * expression) and file name, in order.
 * @template {ImageRef} I
 * @template U the URL: a string, or `Raw` source
 * @param {{ role: 'user' | 'assistant', text: string, images: I[] }} turn
 * @param {(image: I) => { url: U, filename: string }} source
 */
export function turnMessage(turn, source) {
  if (turn.role === 'assistant' || turn.images.length === 0) return { role: turn.role, content: turn.text }
  return {
    role: 'user',
    content: [
      { type: 'text', text: turn.text },
      ...turn.images.map((image) => {
        const { url, filename } = source(image)
        const detail = image.detail !== 'auto' ? { detail: image.detail } : {}
        if (isDocument(image)) return { type: 'file', file: { filename, file_data: url, ...detail } }
        if (isVideo(image)) return { type: 'video_url', video_url: { url, ...detail } }
        return { type: 'image_url', image_url: { url, ...detail } }
      }),
    ],
  }
}

/**
 * The request body, with image URLs left to `imageUrl(index, image)` (an expression).
 * @param {Turn[]} turns @param {Target} target @param {(index: number, image: ImageRef) => Raw | string} imageUrl
 */
function payload(turns, target, imageUrl) {
  const names = imageFileNames(turns)
  let index = 0
  const messages = turns.map((turn) => turnMessage(turn, (image) => ({ url: imageUrl(index++, image), filename: fileName(names, image) })))
  return { model: target.model, messages, max_tokens: target.maxTokens, temperature: target.temperature }
}

/**
 * An image's name from `imageFileNames`, which names every image of the turns.
 * @param {Map<ImageRef, string>} names @param {ImageRef} image
 */
const fileName = (names, image) => /** @type {string} */ (names.get(image))

/** @param {ImageRef} image */
const isDocument = (image) => image.kind === 'document'

/** @param {ImageRef} image */
const isVideo = (image) => image.kind === 'video'

/**
 * A variable for each attachment, numbered among those of its kind, so a lone image is
 * `base64_image` and a lone PDF `base64_pdf` (in each language's own spelling).
 * @param {ImageRef[]} images @param {(kind: 'pdf' | 'video' | 'image', n: number | null) => string} name
 * @returns {(image: ImageRef) => string}
 */
function variables(images, name) {
  const documents = images.filter(isDocument)
  const videos = images.filter(isVideo)
  const pictures = images.filter((image) => !isDocument(image) && !isVideo(image))
  return (image) => {
    const [list, kind] = isDocument(image)
      ? /** @type {const} */ ([documents, 'pdf'])
      : isVideo(image)
        ? /** @type {const} */ ([videos, 'video'])
        : /** @type {const} */ ([pictures, 'image'])
    return name(kind, list.length === 1 ? null : list.indexOf(image) + 1)
  }
}

/** Distinct images in order of first use, each with its variable number. @param {Turn[]} turns */
function distinctImages(turns) {
  /** @type {ImageRef[]} */
  const seen = []
  for (const turn of turns) for (const image of turn.images) if (!seen.includes(image)) seen.push(image)
  return seen
}

/**
 * A literal in Python or JavaScript syntax, indented; short objects stay on one line as
 * people write them. JSON string syntax is valid in both languages.
 * @param {unknown} value a JSON value, with `Raw` source in places @param {LiteralLanguage} language @param {string} [indent]
 * @returns {string}
 */
function literal(value, language, indent = '') {
  if (value instanceof Raw) return value.source
  if (typeof value === 'string') return language === 'javascript' ? jsString(value) : JSON.stringify(value)
  if (typeof value === 'number') return String(value)
  if (typeof value === 'boolean') return language === 'python' ? (value ? 'True' : 'False') : String(value)
  if (value === null) return language === 'python' ? 'None' : 'null'
  const inner = indent + (language === 'python' ? '    ' : '  ')
  const key = (/** @type {string} */ k) => (language === 'javascript' && /^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k))
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]'
    return `[\n${value.map((v) => inner + literal(v, language, inner)).join(',\n')}\n${indent}]`
  }
  const entries = Object.entries(/** @type {object} */ (value))
  const flat = `{${language === 'javascript' ? ' ' : ''}${entries.map(([k, v]) => `${key(k)}: ${literal(v, language, inner)}`).join(', ')}${language === 'javascript' ? ' ' : ''}}`
  const nested = entries.some(([, v]) => Array.isArray(v) || (v !== null && typeof v === 'object' && !(v instanceof Raw)))
  if (!nested && !flat.includes('\n') && indent.length + flat.length <= 88) return flat
  return `{\n${entries.map(([k, v]) => `${inner}${key(k)}: ${literal(v, language, inner)}`).join(',\n')}\n${indent}}`
}

/**
 * One turn as a Responses API input item: the user's text and attachments as
 * `input_text`, `input_image` and `input_file` parts; an answer as an assistant message.
 * @template {ImageRef} I
 * @template U
 * @param {{ role: 'user' | 'assistant', text: string, images: I[] }} turn
 * @param {(image: I) => { url: U, filename: string }} source
 */
export function turnInputItem(turn, source) {
  if (turn.role === 'assistant' || turn.images.length === 0) return { role: turn.role, content: turn.text }
  return {
    role: 'user',
    content: [
      { type: 'input_text', text: turn.text },
      ...turn.images.map((image) => {
        const { url, filename } = source(image)
        const detail = image.detail !== 'auto' ? { detail: image.detail } : {}
        return isDocument(image) ? { type: 'input_file', filename, file_data: url } : { type: 'input_image', image_url: url, ...detail }
      }),
    ],
  }
}

/**
 * The Responses API request body: the whole conversation in `input`, so the program needs
 * nothing stored on the server.
 * @param {Turn[]} turns @param {Target} target @param {(index: number, image: ImageRef) => Raw | string} imageUrl
 */
function responsesPayload(turns, target, imageUrl) {
  const names = imageFileNames(turns)
  let index = 0
  const input = turns.map((turn) => turnInputItem(turn, (image) => ({ url: imageUrl(index++, image), filename: fileName(names, image) })))
  return { model: target.model, input, max_output_tokens: target.maxTokens, temperature: target.temperature }
}

/** @param {Turn[]} turns @param {Target} target */
export function responsesPythonCode(turns, target) {
  const names = imageFileNames(turns)
  const images = distinctImages(turns)
  const variable = variables(images, (kind, n) => (n === null ? `base64_${kind}` : `base64_${kind}_${n}`))
  const lines = ['import base64', ...(target.needsKey ? ['import os'] : []), '', 'from openai import OpenAI', '']
  for (const image of images) {
    const handle = isDocument(image) ? 'pdf_file' : 'image_file'
    lines.push(`with open(${JSON.stringify(names.get(image))}, "rb") as ${handle}:`, `    ${variable(image)} = base64.b64encode(${handle}.read()).decode("utf-8")`)
  }
  if (images.length) lines.push('')
  const body = responsesPayload(turns, target, (_i, image) => new Raw(`f"data:${image.mime};base64,{${variable(image)}}"`))
  lines.push(
    `client = OpenAI(base_url=${JSON.stringify(`${target.baseUrl}/v1`)}, api_key=${target.needsKey ? 'os.environ["VISTO_API_KEY"]' : '"unused"'})`,
    'response = client.responses.create(',
    ...Object.entries(body).map(([name, value]) => `    ${name}=${literal(value, 'python', '    ')},`),
    ')',
    'print(response.output_text)',
  )
  return `${lines.join('\n')}\n`
}

/** @param {Turn[]} turns @param {Target} target */
export function responsesJavascriptCode(turns, target) {
  return openAiJavascript(turns, target, responsesPayload, (body) => [`const response = await client.responses.create(${body})`, 'console.log(response.output_text)'])
}

/** @param {Turn[]} turns @param {Target} target */
export function responsesCurlCode(turns, target) {
  return curlFor(turns, target, '/v1/responses', responsesPayload)
}

/** @param {Turn[]} turns @param {Target} target */
export function pythonCode(turns, target) {
  const names = imageFileNames(turns)
  const images = distinctImages(turns)
  const variable = variables(images, (kind, n) => (n === null ? `base64_${kind}` : `base64_${kind}_${n}`))
  const lines = ['import base64', 'import json', ...(target.needsKey ? ['import os'] : []), 'import requests', '']
  for (const image of images) {
    const handle = isDocument(image) ? 'pdf_file' : isVideo(image) ? 'video_file' : 'image_file'
    lines.push(`with open(${JSON.stringify(names.get(image))}, "rb") as ${handle}:`, `    ${variable(image)} = base64.b64encode(${handle}.read()).decode("utf-8")`)
  }
  if (images.length) lines.push('')
  const body = payload(turns, target, (_i, image) => new Raw(`f"data:${image.mime};base64,{${variable(image)}}"`))
  lines.push(
    `api_url = ${JSON.stringify(`${target.baseUrl}/v1/chat/completions`)}`,
    `payload = ${literal(body, 'python')}`,
    target.needsKey ? 'headers = {"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["VISTO_API_KEY"]}' : 'headers = {"Content-Type": "application/json"}',
    '',
    'response = requests.post(api_url, headers=headers, data=json.dumps(payload))',
    'if response.status_code == 200:',
    '    result = response.json()',
    '    answer = result["choices"][0]["message"]["content"]',
    '    print("模型回答:", answer)',
    'else:',
    '    print(f"请求失败，状态码: {response.status_code}")',
    '    print("错误信息:", response.text)',
  )
  return `${lines.join('\n')}\n`
}

/** @param {Turn[]} turns @param {Target} target */
export function curlCode(turns, target) {
  return curlFor(turns, target, '/v1/chat/completions', payload)
}

/**
 * curl posting the body `makeBody` writes to `path`, the images read by the shell.
 * @param {Turn[]} turns @param {Target} target @param {string} path
 * @param {(turns: Turn[], target: Target, imageUrl: (index: number, image: ImageRef) => string) => unknown} makeBody
 */
function curlFor(turns, target, path, makeBody) {
  const names = imageFileNames(turns)
  const images = distinctImages(turns)
  const variable = variables(images, (kind, n) => `${kind.toUpperCase()}_${n ?? 1}`)
  /** @type {string[]} */
  const lines = []
  // `tr` instead of `base64 -w0`: the same line works with GNU and BSD (macOS) base64.
  for (const image of images) lines.push(`${variable(image)}=$(base64 < ${shellQuote(fileName(names, image))} | tr -d '\\n')`)
  // Private-use characters: JSON.stringify leaves them as they are, and no prompt has them.
  const placeholder = (/** @type {number} */ i) => `\uE000${i}\uE001`
  const json = JSON.stringify(
    makeBody(turns, target, (i) => placeholder(i)),
    null,
    2,
  )
  // The body goes through an unquoted here-document so the shell fills in the images;
  // everything else in it must not be expanded.
  /** @type {ImageRef[]} */
  const ordered = []
  for (const turn of turns) for (const image of turn.images) ordered.push(image)
  const heredoc = json.replace(/[\\$`]/g, (c) => `\\${c}`).replace(/\uE000(\d+)\uE001/g, (_m, i) => `data:${ordered[Number(i)].mime};base64,\${${variable(ordered[Number(i)])}}`)
  lines.push(
    `curl ${shellQuote(`${target.baseUrl}${path}`)} \\`,
    `  -H 'Content-Type: application/json' \\`,
    ...(target.needsKey ? [`  -H "Authorization: Bearer $VISTO_API_KEY" \\`] : []),
    '  --data-binary @- <<JSON',
    heredoc,
    'JSON',
  )
  return `${lines.join('\n')}\n`
}

/** @param {Turn[]} turns @param {Target} target */
export function javascriptCode(turns, target) {
  return openAiJavascript(turns, target, payload, (body) => [
    `const completion = await client.chat.completions.create(${body})`,
    'console.log(completion.choices[0].message.content)',
  ])
}

/**
 * A program with the official `openai` package: the images read from their files, the body
 * `makeBody` writes, then `call(body)`'s lines (the API call and what it prints).
 * @param {Turn[]} turns @param {Target} target
 * @param {(turns: Turn[], target: Target, imageUrl: (index: number, image: ImageRef) => Raw | string) => unknown} makeBody
 * @param {(body: string) => string[]} call
 */
function openAiJavascript(turns, target, makeBody, call) {
  const names = imageFileNames(turns)
  const images = distinctImages(turns)
  const variable = variables(images, (kind, n) => `${kind}${n ?? ''}`)
  /** @type {string[]} */
  const lines = []
  if (images.length) lines.push("import fs from 'node:fs'")
  lines.push("import OpenAI from 'openai'", '')
  lines.push(`const client = new OpenAI({ baseURL: ${jsString(`${target.baseUrl}/v1`)}, apiKey: ${target.needsKey ? 'process.env.VISTO_API_KEY' : "'unused'"} })`)
  for (const image of images) lines.push(`const ${variable(image)} = fs.readFileSync(${jsString(fileName(names, image))}).toString('base64')`)
  const body = makeBody(turns, target, (_i, image) => new Raw(`\`data:${image.mime};base64,\${${variable(image)}}\``))
  lines.push('', ...call(literal(body, 'javascript')))
  return `${lines.join('\n')}\n`
}

/**
 * The same conversation through Anthropic's Messages API and its official JavaScript SDK
 * (`@anthropic-ai/sdk`), which Visto also serves: images as base64 `image` blocks, PDFs as
 * `document` blocks, after the text as the page sends them.
 * @param {Turn[]} turns @param {Target} target
 */
export function anthropicCode(turns, target) {
  const names = imageFileNames(turns)
  const images = distinctImages(turns)
  const variable = variables(images, (kind, n) => `${kind}${n ?? ''}`)
  /** @type {string[]} */
  const lines = []
  if (images.length) lines.push("import fs from 'node:fs'")
  lines.push("import Anthropic from '@anthropic-ai/sdk'", '')
  // The SDK adds /v1/messages to the server's own address.
  lines.push(`const client = new Anthropic({ baseURL: ${jsString(target.baseUrl)}, apiKey: ${target.needsKey ? 'process.env.VISTO_API_KEY' : "'unused'"} })`)
  for (const image of images) lines.push(`const ${variable(image)} = fs.readFileSync(${jsString(fileName(names, image))}).toString('base64')`)
  const messages = turns.map((turn) => {
    if (turn.role === 'assistant' || turn.images.length === 0) return { role: turn.role, content: turn.text }
    return {
      role: 'user',
      content: [
        { type: 'text', text: turn.text },
        ...turn.images.map((image) => {
          const data = new Raw(variable(image))
          return isDocument(image)
            ? { type: 'document', title: fileName(names, image), source: { type: 'base64', media_type: 'application/pdf', data } }
            : { type: 'image', source: { type: 'base64', media_type: image.mime, data } }
        }),
      ],
    }
  })
  const body = { model: target.model, max_tokens: target.maxTokens, temperature: target.temperature, messages }
  if (images.some((image) => image.detail !== 'auto')) lines.push('', "// Anthropic's blocks have no detail setting: every image is read at the server's default detail.")
  lines.push(
    '',
    `const message = await client.messages.create(${literal(body, 'javascript')})`,
    "console.log(message.content.filter((block) => block.type === 'text').map((block) => block.text).join(''))",
  )
  return `${lines.join('\n')}\n`
}

/** A single-quoted JavaScript string, as JavaScript is usually written. @param {string} text */
function jsString(text) {
  return `'${JSON.stringify(text).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`
}

/** @param {string} text */
function shellQuote(text) {
  return /^[\w./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`
}
