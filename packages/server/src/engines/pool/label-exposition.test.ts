import { describe, expect, it } from 'vitest'
import { labelExposition } from './label-exposition.js'

describe('labelling several engines’ metrics', () => {
  it('labels each sample with its engine and keeps each HELP and TYPE once, before the samples', () => {
    const one = '# HELP x_total Tokens.\n# TYPE x_total counter\nx_total 5\n# TYPE y gauge\ny{slot="0"} 1\n'
    const two = '# HELP x_total Tokens.\n# TYPE x_total counter\nx_total 7\n# TYPE y gauge\ny{slot="0"} 2\n'
    expect(
      labelExposition([
        { label: 'a', text: one },
        { label: 'http://b"', text: two },
      ]),
    ).toBe(
      [
        '# HELP x_total Tokens.',
        '# TYPE x_total counter',
        'x_total{upstream="a"} 5',
        'x_total{upstream="http://b\\""} 7',
        '# TYPE y gauge',
        'y{upstream="a",slot="0"} 1',
        'y{upstream="http://b\\"",slot="0"} 2',
        '',
      ].join('\n'),
    )
  })
})
