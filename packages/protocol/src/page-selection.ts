/**
 * The `pages` field of a file part (a Visto extension): "1-3,7" means pages 1, 2, 3
 * and 7, numbered from 1 as a reader numbers them. Pages come back in document order,
 * each once, however the ranges were written.
 */
export type PageSelection = { kind: 'all' } | { kind: 'some'; pages: number[] }

/** A selection can name at most this many pages; more is refused while parsing. */
const maxSelectable = 100_000

export class PageSelectionError extends Error {
  override name = 'PageSelectionError'
}

export function parsePageSelection(value: string): PageSelection {
  const text = value.trim()
  if (text === '' || text.toLowerCase() === 'all') return { kind: 'all' }
  const pages = new Set<number>()
  for (const raw of text.split(',')) {
    const item = raw.trim()
    const match = /^(\d{1,6})(?:\s*-\s*(\d{1,6}))?$/.exec(item)
    if (!match) throw new PageSelectionError(`"${item.slice(0, 20)}" is not a page number or a range like "2-5"`)
    const first = Number(match[1])
    const last = match[2] === undefined ? first : Number(match[2])
    if (first < 1) throw new PageSelectionError('pages are numbered from 1')
    if (last < first) throw new PageSelectionError(`the range "${item}" runs backwards`)
    if (pages.size + (last - first + 1) > maxSelectable) throw new PageSelectionError(`it names more than ${maxSelectable} pages`)
    for (let page = first; page <= last; page++) pages.add(page)
  }
  return { kind: 'some', pages: [...pages].sort((a, b) => a - b) }
}

/** "1-3, 7": how a list of page numbers is shown back to a user. */
export function formatPageList(pages: readonly number[]): string {
  const ranges: string[] = []
  for (let i = 0; i < pages.length; ) {
    let j = i
    while (j + 1 < pages.length && pages[j + 1] === pages[j]! + 1) j++
    ranges.push(i === j ? `${pages[i]}` : `${pages[i]}-${pages[j]}`)
    i = j + 1
  }
  return ranges.join(',')
}
