// @ts-check
// Model answers as Markdown. markdown-it parses them (CommonMark plus tables and
// strikethrough, in time linear in the answer's length); this file builds the DOM from
// its tokens itself, so nothing the model writes can become markup: only elements from a
// fixed list are made, text is always a text node, and a few vetted attributes are set.
// markdown-it's HTML renderer is never used, raw HTML stays text (`html: false`), images
// are off (an answer makes the page fetch nothing) and links keep only http(s) and
// mailto targets.

import MarkdownIt from 'markdown-it'

/** @typedef {import('markdown-it').Token} Token */
/** @typedef {{ codeBlock?: (code: string, language: string) => Node }} Options */

const SAFE_LINK = /^(https?:\/\/|mailto:)/i

// Past this depth markdown-it drops the rest of the block; such a block is shown as its
// plain text instead (see `blockNodes`), so nothing is lost.
const MAX_NESTING = 100

const parser = new MarkdownIt('default', { html: false, linkify: false, typographer: false, maxNesting: MAX_NESTING })
parser.disable(['image'])
parser.validateLink = (/** @type {string} */ url) => SAFE_LINK.test(url)

/** The tags a token may become; anything else keeps its content but no element. */
const TAGS = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'blockquote', 'ul', 'ol', 'li', 'thead', 'tbody', 'tr', 'th', 'td', 'em', 'strong', 'del', 'a'])

/** Line ends as markdown-it counts lines, so token maps index `source.split('\n')`. @param {string} text */
function normalise(text) {
  return text.replace(/\r\n?/g, '\n')
}

/**
 * @param {string} text
 * @param {Options} [options]
 * @returns {DocumentFragment}
 */
export function renderMarkdown(text, options = {}) {
  const source = normalise(text)
  const lines = source.split('\n')
  const fragment = document.createDocumentFragment()
  for (const block of topLevelBlocks(parser.parse(source, {}))) fragment.append(...blockNodes(block, lines, options))
  return fragment
}

/**
 * Draws a streaming answer into `container`. Each `update` gets the whole answer so far,
 * but only the last top-level block is parsed and built again: the blocks before it are
 * complete (text that arrives later cannot change them) and stay in the DOM as they are.
 * The finished answer is drawn once more with `renderMarkdown`, so it ends exactly as a
 * full render (a reference definition at the end, say, reaches the links above it).
 * @param {HTMLElement} container
 * @param {Options} [options]
 */
export function streamMarkdown(container, options = {}) {
  /** The source of the kept blocks: whole lines, a prefix of every later update. */
  let kept = ''
  /** How many of `container`'s first child nodes draw `kept`. */
  let keptNodes = 0
  container.replaceChildren()
  return {
    /** @param {string} text the answer so far */
    update(text) {
      const source = normalise(text)
      if (!source.startsWith(kept)) {
        kept = ''
        keptNodes = 0
      }
      while (container.childNodes.length > keptNodes) /** @type {ChildNode} */ (container.lastChild).remove()
      const tail = source.slice(kept.length)
      const lines = tail.split('\n')
      const blocks = topLevelBlocks(parser.parse(tail, {}))
      // Where the last block starts: everything before it is kept from now on.
      const lastStart = blocks.length > 1 ? blocks[blocks.length - 1][0].map?.[0] : undefined
      blocks.forEach((block, index) => {
        const nodes = blockNodes(block, lines, options)
        container.append(...nodes)
        if (lastStart !== undefined && index < blocks.length - 1) keptNodes += nodes.length
      })
      if (lastStart !== undefined) kept += `${lines.slice(0, lastStart).join('\n')}\n`
    },
  }
}

/**
 * The token stream cut into top-level blocks (a paragraph, a whole list, a fence…): each
 * ends at a token that brings the nesting back to the top.
 * @param {Token[]} tokens @returns {Token[][]}
 */
function topLevelBlocks(tokens) {
  /** @type {Token[][]} */
  const blocks = []
  let start = 0
  tokens.forEach((token, index) => {
    if (token.level === 0 && token.nesting !== 1) {
      blocks.push(tokens.slice(start, index + 1))
      start = index + 1
    }
  })
  return blocks
}

/**
 * One top-level block as DOM nodes, or, if it nests so deep that markdown-it stopped
 * parsing inside it, as its source text.
 * @param {Token[]} block @param {string[]} lines the source the block's map indexes @param {Options} options
 * @returns {Node[]}
 */
function blockNodes(block, lines, options) {
  const map = block[0].map
  if (map && block.some((token) => token.level >= MAX_NESTING - 1)) {
    const plain = document.createElement('p')
    plain.className = 'plain-text'
    plain.textContent = lines.slice(map[0], map[1]).join('\n')
    return [plain]
  }
  const fragment = document.createDocumentFragment()
  build(fragment, block, options)
  return [...fragment.childNodes]
}

/**
 * Appends the elements for `tokens` (one level of markdown-it's stream: block tokens, or
 * an inline token's children) to `root`.
 * @param {ParentNode} root @param {Token[]} tokens @param {Options} options
 */
function build(root, tokens, options) {
  /** @type {ParentNode[]} */
  const open = [root]
  for (const token of tokens) {
    const parent = open[open.length - 1]
    if (token.nesting === 1) {
      const [outer, inner] = element(token)
      if (outer) parent.append(outer)
      open.push(inner ?? parent)
    } else if (token.nesting === -1) {
      if (open.length > 1) open.pop()
    } else {
      leaf(parent, token, options)
    }
  }
}

/**
 * The element an opening token stands for: [what goes into the parent, what the
 * children go into]; none for a tight list's hidden paragraphs or an unknown tag.
 * @param {Token} token @returns {[Node | null, ParentNode | null]}
 */
function element(token) {
  if (token.hidden) return [null, null]
  if (token.type === 'table_open') {
    // Wide tables scroll inside their own box instead of widening the page.
    const wrapper = document.createElement('div')
    wrapper.className = 'table-scroll'
    const table = document.createElement('table')
    wrapper.append(table)
    return [wrapper, table]
  }
  const tag = token.tag === 's' ? 'del' : token.tag
  if (!TAGS.has(tag)) return [null, null]
  const node = document.createElement(tag)
  if (tag === 'ol') {
    const start = token.attrGet('start')
    if (start !== null) node.setAttribute('start', String(start))
  } else if (tag === 'th' || tag === 'td') {
    const align = /text-align:(left|center|right)/.exec(String(token.attrGet('style') ?? ''))
    if (align) node.dataset.align = align[1]
  } else if (node instanceof HTMLAnchorElement) {
    // markdown-it already refused other targets (validateLink); checked again where it counts.
    const href = String(token.attrGet('href') ?? '')
    if (!SAFE_LINK.test(href)) return [null, null]
    node.href = href
    const title = token.attrGet('title')
    if (title !== null) node.title = String(title)
    node.rel = 'noopener noreferrer nofollow'
    node.target = '_blank'
  }
  return [node, node]
}

/** A token that opens and closes nothing. @param {ParentNode} parent @param {Token} token @param {Options} options */
function leaf(parent, token, options) {
  switch (token.type) {
    case 'inline':
      build(parent, token.children ?? [], options)
      return
    case 'softbreak':
    case 'hardbreak':
      // A model's single line break is meant as one.
      parent.append(document.createElement('br'))
      return
    case 'code_inline': {
      const code = document.createElement('code')
      code.textContent = token.content
      parent.append(code)
      return
    }
    case 'fence':
    case 'code_block': {
      // The fence's content ends with the newline before the closing fence.
      const code = token.content.replace(/\n$/, '')
      const language = token.type === 'fence' ? parser.utils.unescapeAll(token.info).trim().split(/\s+/)[0] : ''
      parent.append(options.codeBlock ? options.codeBlock(code, language) : codeElement(code))
      return
    }
    case 'hr':
      parent.append(document.createElement('hr'))
      return
    default:
      // Text, and whatever else carries content (raw HTML if it were ever on): as text.
      if (token.content) parent.append(token.content)
  }
}

/** @param {string} code */
function codeElement(code) {
  const pre = document.createElement('pre')
  const element = document.createElement('code')
  element.textContent = code
  pre.append(element)
  return pre
}
