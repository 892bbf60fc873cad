import { describe, expect, it } from 'vitest'
import { formatPageList, PageSelectionError, parsePageSelection } from './page-selection.js'

describe('parsePageSelection', () => {
  it('reads single pages and ranges, in document order, each page once', () => {
    expect(parsePageSelection('1-3,7')).toEqual({ kind: 'some', pages: [1, 2, 3, 7] })
    expect(parsePageSelection(' 7 , 2 - 3, 3 ')).toEqual({ kind: 'some', pages: [2, 3, 7] })
  })

  it('treats an empty selection and "all" as every page', () => {
    expect(parsePageSelection('')).toEqual({ kind: 'all' })
    expect(parsePageSelection('ALL')).toEqual({ kind: 'all' })
  })

  it.each([
    ['0', 'pages are numbered from 1'],
    ['5-2', 'the range "5-2" runs backwards'],
    ['1-3,x', '"x" is not a page number or a range like "2-5"'],
    ['1;2', '"1;2" is not a page number or a range like "2-5"'],
    ['1-999999', 'it names more than 100000 pages'],
  ])('refuses %j: %s', (selection, message) => {
    expect(() => parsePageSelection(selection)).toThrow(new PageSelectionError(message))
  })
})

describe('formatPageList', () => {
  it('folds runs back into ranges', () => {
    expect(formatPageList([1, 2, 3, 7, 9, 10])).toBe('1-3,7,9-10')
    expect(formatPageList([40])).toBe('40')
  })
})
