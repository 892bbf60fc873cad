// @ts-check
// A small Markdown renderer that builds DOM nodes and sets only textContent and a few
// vetted attributes, so nothing the model writes can become markup: `<script>` in an
// answer is shown as the text "<script>". Covers what models write: headings,
// paragraphs, emphasis, inline code, fenced code, lists (nested), tables, quotes, rules
// and links (http, https and mailto only).

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/
const QUOTE = /^ {0,3}> ?/
const LIST_ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:[ \t]+|$)(.*)$/
const TABLE_DIVIDER = /^ *\|? *:?-+:? *(\| *:?-+:? *)*\|? *$/

/**
 * @param {string} text
 * @param {Options} [options]
 * @returns {DocumentFragment}
 */
export function renderMarkdown(text, options = {}) {
  const fragment = document.createDocumentFragment()
  fragment.append(...blocks(text.replace(/\r\n?/g, '\n').split('\n'), options))
  return fragment
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {...(Node | string)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, ...children) {
  const node = document.createElement(tag)
  node.append(...children)
  return node
}

/** @typedef {{ codeBlock?: (code: string, language: string) => Node }} Options */

/** @param {string} line */
function isTableRow(line) {
  return line.includes('|')
}

/** @param {string} line @returns {string[]} */
function splitRow(line) {
  let row = line.trim()
  if (row.startsWith('|')) row = row.slice(1)
  if (row.endsWith('|') && !row.endsWith('\\|')) row = row.slice(0, -1)
  const cells = []
  let cell = ''
  let inCode = false
  for (let i = 0; i < row.length; i++) {
    const c = row[i]
    if (c === '\\' && row[i + 1] === '|') {
      cell += '|'
      i++
    } else if (c === '`') {
      inCode = !inCode
      cell += c
    } else if (c === '|' && !inCode) {
      cells.push(cell.trim())
      cell = ''
    } else {
      cell += c
    }
  }
  cells.push(cell.trim())
  return cells
}

/** Where a paragraph stops: the start of any other block. @param {string} line @param {string | undefined} next */
function startsBlock(line, next) {
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    QUOTE.test(line) ||
    LIST_ITEM.test(line) ||
    (isTableRow(line) && next !== undefined && TABLE_DIVIDER.test(next) && next.includes('-'))
  )
}

/** @param {string[]} lines @param {Options} options @returns {Node[]} */
function blocks(lines, options) {
  /** @type {Node[]} */
  const out = []
  let i = 0
  while (i < lines.length) {
    const line = lines[i]
    if (line.trim() === '') {
      i++
      continue
    }

    const fence = FENCE.exec(line)
    if (fence) {
      const marker = fence[1]
      /** @type {string[]} */
      const body = []
      i++
      // An unclosed fence (a stream still arriving) runs to the end.
      while (i < lines.length && !new RegExp(`^ {0,3}${marker[0]}{${marker.length},}\\s*$`).test(lines[i])) body.push(lines[i++])
      i++
      const code = body.join('\n')
      out.push(options.codeBlock ? options.codeBlock(code, fence[2]) : el('pre', el('code', code)))
      continue
    }

    const heading = HEADING.exec(line)
    if (heading) {
      out.push(el(/** @type {'h1' | 'h2' | 'h3' | 'h4' | 'h5' | 'h6'} */ (`h${heading[1].length}`), ...inline(heading[2] ?? '')))
      i++
      continue
    }

    if (RULE.test(line)) {
      out.push(document.createElement('hr'))
      i++
      continue
    }

    if (QUOTE.test(line)) {
      /** @type {string[]} */
      const body = []
      while (i < lines.length && lines[i].trim() !== '' && (QUOTE.test(lines[i]) || body.length > 0)) {
        if (!QUOTE.test(lines[i]) && startsBlock(lines[i], lines[i + 1])) break
        body.push(lines[i].replace(QUOTE, ''))
        i++
      }
      out.push(el('blockquote', ...blocks(body, options)))
      continue
    }

    const item = LIST_ITEM.exec(line)
    if (item) {
      const [list, next] = listAt(lines, i, options)
      out.push(list)
      i = next
      continue
    }

    if (isTableRow(line) && i + 1 < lines.length && TABLE_DIVIDER.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      const header = splitRow(line)
      const aligns = splitRow(lines[i + 1]).map((cell) => (cell.startsWith(':') && cell.endsWith(':') ? 'center' : cell.endsWith(':') ? 'right' : cell.startsWith(':') ? 'left' : ''))
      i += 2
      /** @type {string[][]} */
      const rows = []
      while (i < lines.length && lines[i].trim() !== '' && isTableRow(lines[i])) rows.push(splitRow(lines[i++]))
      /** @param {'th' | 'td'} tag @param {string | undefined} text @param {number} column */
      const cell = (tag, text, column) => {
        const node = el(tag, ...inline(text ?? ''))
        if (aligns[column]) node.dataset.align = aligns[column]
        return node
      }
      const table = el(
        'table',
        el('thead', el('tr', ...header.map((text, column) => cell('th', text, column)))),
        el('tbody', ...rows.map((row) => el('tr', ...header.map((_, column) => cell('td', row[column], column))))),
      )
      // Wide tables scroll inside their own box instead of widening the page.
      const wrapper = el('div', table)
      wrapper.className = 'table-scroll'
      out.push(wrapper)
      continue
    }

    const paragraph = [line]
    i++
    while (i < lines.length && lines[i].trim() !== '' && !startsBlock(lines[i], lines[i + 1])) paragraph.push(lines[i++])
    const p = document.createElement('p')
    paragraph.forEach((text, index) => {
      if (index > 0) p.append(document.createElement('br'))
      p.append(...inline(text.trim()))
    })
    out.push(p)
  }
  return out
}

/**
 * One list (ordered or not) starting at `start`; items may hold nested blocks.
 * @param {string[]} lines @param {number} start a line that LIST_ITEM matches @param {Options} options
 * @returns {[HTMLOListElement | HTMLUListElement, number]}
 */
function listAt(lines, start, options) {
  const first = /** @type {RegExpExecArray} */ (LIST_ITEM.exec(lines[start]))
  const indent = first[1].length
  const ordered = /\d/.test(first[2])
  const list = document.createElement(ordered ? 'ol' : 'ul')
  if (ordered && Number.parseInt(first[2], 10) !== 1) list.setAttribute('start', String(Number.parseInt(first[2], 10)))
  let i = start
  while (i < lines.length) {
    const item = LIST_ITEM.exec(lines[i])
    if (!item || item[1].length !== indent || /\d/.test(item[2]) !== ordered) break
    const contentIndent = indent + item[2].length + 1
    const body = [item[3]]
    i++
    while (i < lines.length) {
      const line = lines[i]
      if (line.trim() === '') {
        // A blank line continues the item only if indented content follows.
        const following = lines[i + 1]
        if (following !== undefined && following.trim() !== '' && leadingSpaces(following) > indent) {
          body.push('')
          i++
          continue
        }
        break
      }
      const sibling = LIST_ITEM.exec(line)
      if (sibling && sibling[1].length <= indent) break
      if (leadingSpaces(line) <= indent && startsBlock(line, lines[i + 1])) break
      body.push(line.slice(Math.min(leadingSpaces(line), contentIndent)))
      i++
    }
    const li = document.createElement('li')
    const content = blocks(body, options)
    // Tight items read better without paragraph margins.
    if (content.length > 0 && content[0].nodeName === 'P' && !body.includes('')) li.append(...content[0].childNodes, ...content.slice(1))
    else li.append(...content)
    list.append(li)
  }
  return [list, i]
}

/** @param {string} line */
function leadingSpaces(line) {
  return line.length - line.trimStart().length
}

const SAFE_LINK = /^(https?:\/\/|mailto:)/i

/**
 * Inline spans: `code`, **strong**, *em*, ~~del~~, [text](url). Text is always a text
 * node; a link only gets an href that is http(s) or mailto.
 * @param {string} text
 * @returns {Node[]}
 */
function inline(text) {
  /** @type {Node[]} */
  const out = []
  let plain = ''
  const flush = () => {
    if (plain) out.push(document.createTextNode(plain))
    plain = ''
  }
  let i = 0
  while (i < text.length) {
    const c = text[i]
    if (c === '\\' && i + 1 < text.length && /[\\`*_{}[\]()#+\-.!|~<>]/.test(text[i + 1])) {
      plain += text[i + 1]
      i += 2
      continue
    }
    if (c === '`') {
      const run = /** @type {RegExpExecArray} */ (/^`+/.exec(text.slice(i)))[0]
      const end = text.indexOf(run, i + run.length)
      if (end !== -1) {
        flush()
        out.push(el('code', text.slice(i + run.length, end).replace(/^ (.*) $/, '$1')))
        i = end + run.length
        continue
      }
    }
    if ((c === '*' || c === '_' || c === '~') && text[i + 1] === c) {
      const marker = c + c
      const end = text.indexOf(marker, i + 2)
      if (end > i + 2) {
        flush()
        out.push(el(c === '~' ? 'del' : 'strong', ...inline(text.slice(i + 2, end))))
        i = end + 2
        continue
      }
    }
    if ((c === '*' || c === '_') && text[i + 1] !== c && text[i + 1] !== ' ' && text[i + 1] !== undefined) {
      // `_` inside words (snake_case) is not emphasis.
      const wordBefore = c === '_' && /\w/.test(text[i - 1] ?? '')
      const end = findClosing(text, c, i + 1)
      if (!wordBefore && end !== -1) {
        flush()
        out.push(el('em', ...inline(text.slice(i + 1, end))))
        i = end + 1
        continue
      }
    }
    if (c === '[') {
      const link = /^\[([^\]]*)\]\(\s*<?([^()\s<>]*(?:\([^()\s]*\))?[^()\s<>]*)>?(?:\s+"[^"]*")?\s*\)/.exec(text.slice(i))
      if (link) {
        flush()
        if (SAFE_LINK.test(link[2])) {
          const a = el('a', ...inline(link[1]))
          a.href = link[2]
          a.rel = 'noopener noreferrer nofollow'
          a.target = '_blank'
          out.push(a)
        } else {
          out.push(...inline(link[1]))
        }
        i += link[0].length
        continue
      }
    }
    plain += c
    i++
  }
  flush()
  return out
}

/** @param {string} text @param {string} marker @param {number} from */
function findClosing(text, marker, from) {
  for (let j = from; j < text.length; j++) {
    if (text[j] === '\\') {
      j++
      continue
    }
    if (text[j] === marker && text[j - 1] !== ' ' && text[j + 1] !== marker && (marker !== '_' || !/\w/.test(text[j + 1] ?? ''))) return j
  }
  return -1
}
