import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import * as fixtures from '@visto/testkit/images/test-images'
import { groundingPrompt, parseGrounding, type Detection } from './grounding.js'
import { displayedImageSize } from './image-size.js'

const size = { width: 2000, height: 1000 }

/** Detections without their spans, for comparing shapes. */
function shapes(detections: Detection[]) {
  return detections.map(({ span: _span, ...rest }) => rest)
}

describe('parseGrounding: the shapes Qwen3-VL answers in', () => {
  it('reads a fenced list of boxes, as the 2D grounding cookbook shows, scaling 0–1000 to pixels', () => {
    const answer = ['```json', '[', '\t{"bbox_2d": [135, 114, 1016, 672], "label": "house"},', '\t{"bbox_2d": [0, 500, 250, 1000], "label": "tree"}', ']', '```'].join('\n')
    expect(shapes(parseGrounding(answer, size))).toEqual([
      { label: 'house', kind: 'box', box: { x1: 270, y1: 114, x2: 2000, y2: 672 } },
      { label: 'tree', kind: 'box', box: { x1: 0, y1: 500, x2: 500, y2: 1000 } },
    ])
  })

  it('reads a single bare box object, and a single point', () => {
    expect(shapes(parseGrounding('{"bbox_2d": [100, 200, 300, 400], "label": "cat"}', size))).toEqual([{ label: 'cat', kind: 'box', box: { x1: 200, y1: 200, x2: 600, y2: 400 } }])
    expect(shapes(parseGrounding('{"point_2d": [500, 250], "label": "cup"}', size))).toEqual([{ label: 'cup', kind: 'point', point: { x: 1000, y: 250 } }])
  })

  it('reads a list of points with extra keys, keeping them as attributes', () => {
    const answer =
      '```json\n[{"point_2d": [346, 328], "label": "person", "role": "referee", "shirt_color": "black"}, {"point_2d": [238, 158], "label": "person", "role": "player", "shirt_color": "red"}]\n```'
    expect(shapes(parseGrounding(answer, { width: 1000, height: 500 }))).toEqual([
      { label: 'person', kind: 'point', point: { x: 346, y: 164 }, attributes: { role: 'referee', shirt_color: 'black' } },
      { label: 'person', kind: 'point', point: { x: 238, y: 79 }, attributes: { role: 'player', shirt_color: 'red' } },
    ])
  })

  it('reads boxes with the cookbook’s extra keys (type, color) and a text-spotting answer labelled by text_content', () => {
    const answer = '[{"bbox_2d": [74, 361, 325, 812], "label": "plate/dish", "type": "plate", "color": "white"}, {"bbox_2d": [10, 10, 20, 20], "text_content": "EXIT"}]'
    expect(shapes(parseGrounding(answer, { width: 1000, height: 1000 }))).toEqual([
      { label: 'plate/dish', kind: 'box', box: { x1: 74, y1: 361, x2: 325, y2: 812 }, attributes: { type: 'plate', color: 'white' } },
      { label: 'EXIT', kind: 'box', box: { x1: 10, y1: 10, x2: 20, y2: 20 }, attributes: { text_content: 'EXIT' } },
    ])
  })

  it('finds boxes in several fences and in prose around them, in answer order, with the span of each object', () => {
    const first = '{"bbox_2d": [0, 0, 100, 100], "label": "a"}'
    const second = '{"bbox_2d": [900, 900, 1000, 1000], "label": "b"}'
    const answer = `The first:\n\`\`\`json\n${first}\n\`\`\`\nand the second:\n\`\`\`\n[${second}]\n\`\`\`\nThat is all.`
    const found = parseGrounding(answer, size)
    expect(found.map((d) => d.label)).toEqual(['a', 'b'])
    expect(answer.slice(found[0]!.span.start, found[0]!.span.end)).toBe(first)
    expect(answer.slice(found[1]!.span.start, found[1]!.span.end)).toBe(second)
  })

  it('finds boxes nested in other JSON, such as a {"detections": [...]} wrapper', () => {
    const answer = '{"detections": [{"bbox_2d": [100, 100, 200, 200], "label": "x"}], "count": 1}'
    expect(shapes(parseGrounding(answer, { width: 1000, height: 1000 }))).toEqual([{ label: 'x', kind: 'box', box: { x1: 100, y1: 100, x2: 200, y2: 200 } }])
  })

  it('reads several boxes or points under one label, and a box written as two corner points', () => {
    const answer =
      '[{"bbox_2d": [[0, 0, 100, 100], [200, 200, 300, 300]], "label": "tile"}, {"point_2d": [[100, 100], [200, 200]], "label": "dot"}, {"bbox_2d": [[10, 20], [30, 40]], "label": "c"}]'
    expect(shapes(parseGrounding(answer, { width: 1000, height: 1000 }))).toEqual([
      { label: 'tile', kind: 'box', box: { x1: 0, y1: 0, x2: 100, y2: 100 } },
      { label: 'tile', kind: 'box', box: { x1: 200, y1: 200, x2: 300, y2: 300 } },
      { label: 'dot', kind: 'point', point: { x: 100, y: 100 } },
      { label: 'dot', kind: 'point', point: { x: 200, y: 200 } },
      { label: 'c', kind: 'box', box: { x1: 10, y1: 20, x2: 30, y2: 40 } },
    ])
  })
})

describe('parseGrounding: small JSON slips', () => {
  const expected = [
    { label: 'cat', kind: 'box', box: { x1: 200, y1: 200, x2: 600, y2: 400 } },
    { label: 'dog', kind: 'box', box: { x1: 1000, y1: 500, x2: 2000, y2: 1000 } },
  ]

  it.each([
    ['trailing commas', '[{"bbox_2d": [100, 200, 300, 400,], "label": "cat",}, {"bbox_2d": [500, 500, 1000, 1000], "label": "dog"},]'],
    ['single quotes', "[{'bbox_2d': [100, 200, 300, 400], 'label': 'cat'}, {'bbox_2d': [500, 500, 1000, 1000], 'label': 'dog'}]"],
    ['unquoted keys', '[{bbox_2d: [100, 200, 300, 400], label: "cat"}, {bbox_2d: [500, 500, 1000, 1000], label: "dog"}]'],
    ['a missing comma between objects', '[{"bbox_2d": [100, 200, 300, 400], "label": "cat"}\n {"bbox_2d": [500, 500, 1000, 1000], "label": "dog"}]'],
    ['objects one per line without a list', '{"bbox_2d": [100, 200, 300, 400], "label": "cat"}\n{"bbox_2d": [500, 500, 1000, 1000], "label": "dog"}'],
    ['comments', '[\n  // the cat\n  {"bbox_2d": [100, 200, 300, 400], "label": "cat"}, /* and */\n  # the dog\n  {"bbox_2d": [500, 500, 1000, 1000], "label": "dog"}\n]'],
    ['quoted coordinates', '[{"bbox_2d": ["100", "200", "300", "400"], "label": "cat"}, {"bbox_2d": [500, 500, 1000, 1000], "label": "dog"}]'],
    [
      'a list whose closing bracket never came before the fence closed',
      '```json\n[{"bbox_2d": [100, 200, 300, 400], "label": "cat"}, {"bbox_2d": [500, 500, 1000, 1000], "label": "dog"}\n```',
    ],
  ])('forgives %s', (_slip, answer) => {
    expect(shapes(parseGrounding(answer, size))).toEqual(expected)
  })

  it('reads Python-style True/False/None in extra keys', () => {
    const found = parseGrounding("[{'bbox_2d': [100, 200, 300, 400], 'label': 'cat', 'occluded': True, 'truncated': False, 'note': None}]", size)
    expect(found[0]!.attributes).toEqual({ occluded: true, truncated: false, note: null })
  })

  it('keeps what came before an answer cut off by max_tokens, dropping the object that was cut', () => {
    const cut = '```json\n[\n  {"bbox_2d": [100, 200, 300, 400], "label": "cat"},\n  {"bbox_2d": [500, 500, 1000, 1000], "label": "dog"},\n  {"bbox_2d": [10, 20, 3'
    expect(shapes(parseGrounding(cut, size))).toEqual(expected)
    expect(shapes(parseGrounding(`${cut.slice(0, cut.lastIndexOf('{'))}{"bbox_2d": [10, 20, 30, 40], "label": "ca`, size))).toEqual(expected)
  })

  it('orders a box’s corners and clamps coordinates to the image', () => {
    const answer = '[{"bbox_2d": [300, 400, 100, 200], "label": "flipped"}, {"bbox_2d": [-50, 900, 1100, 1200], "label": "over"}, {"point_2d": [1500, -3], "label": "p"}]'
    expect(shapes(parseGrounding(answer, size))).toEqual([
      { label: 'flipped', kind: 'box', box: { x1: 200, y1: 200, x2: 600, y2: 400 } },
      { label: 'over', kind: 'box', box: { x1: 0, y1: 900, x2: 2000, y2: 1000 } },
      { label: 'p', kind: 'point', point: { x: 2000, y: 0 } },
    ])
  })
})

describe('parseGrounding: everything else', () => {
  it.each([
    ['prose', 'There is a cat on the sofa, next to [a lamp] and {a book}.'],
    ['other JSON', '{"objects": ["cat", "dog"], "count": 2, "box": [1, 2, 3, 4]}'],
    ['boxes with the wrong number of coordinates', '[{"bbox_2d": [1, 2, 3], "label": "a"}, {"point_2d": [1, 2, 3], "label": "b"}, {"bbox_2d": "100,200,300,400"}]'],
    ['non-numeric coordinates', '{"bbox_2d": [1, "two", 3, 4], "label": "a"} {"point_2d": [null, NaN]}'],
    ['an empty string', ''],
    ['unbalanced junk', '}}]] [[[ {{ "bbox_2d" : [ \'unterminated'],
  ])('finds nothing in %s, without throwing', (_what, answer) => {
    expect(parseGrounding(answer, size)).toEqual([])
  })

  it('survives nesting deeper than any answer, still finding the object inside', () => {
    const answer = `${'['.repeat(10_000)}{"bbox_2d": [100, 200, 300, 400], "label": "deep"}`
    expect(shapes(parseGrounding(answer, size))).toEqual([{ label: 'deep', kind: 'box', box: { x1: 200, y1: 200, x2: 600, y2: 400 } }])
  })

  it('is not fooled by an apostrophe in prose before the JSON', () => {
    const answer = `Here's what I found [it's a cat]: {"bbox_2d": [100, 200, 300, 400], "label": "cat"}`
    expect(shapes(parseGrounding(answer, size))).toEqual([{ label: 'cat', kind: 'box', box: { x1: 200, y1: 200, x2: 600, y2: 400 } }])
  })

  it('treats "__proto__" in an answer as an ordinary key', () => {
    const found = parseGrounding('{"bbox_2d": [0, 0, 10, 10], "label": "x", "__proto__": {"polluted": true}}', size)
    expect(found).toHaveLength(1)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('stays fast on long hostile input', () => {
    const hostile = '{"a": ['.repeat(3000) + 'x'.repeat(50_000) + '[{'.repeat(20_000)
    const started = performance.now()
    expect(parseGrounding(hostile, size)).toEqual([])
    expect(performance.now() - started).toBeLessThan(3000)
  })

  it('refuses a size that is not a positive width and height', () => {
    expect(() => parseGrounding('{}', { width: 0, height: 10 })).toThrow(TypeError)
    expect(() => parseGrounding('{}', { width: Number.NaN, height: 10 })).toThrow(/width and height/)
  })
})

describe('parseGrounding on real images', () => {
  it('maps onto the upright size of an EXIF-rotated JPEG (orientation 6 and 8 swap the sides)', async () => {
    const answer = '{"bbox_2d": [100, 250, 500, 750], "label": "thing"}'
    for (const orientation of [6, 8]) {
      const bytes = await fixtures.jpeg(800, 400, { orientation })
      const shown = displayedImageSize(bytes)!
      expect([shown.width, shown.height]).toEqual([400, 800])
      expect(shapes(parseGrounding(answer, shown))).toEqual([{ label: 'thing', kind: 'box', box: { x1: 40, y1: 200, x2: 200, y2: 600 } }])
    }
  })

  it('gives the same relative place on an image and on a resized copy of it', async () => {
    const answer = '{"bbox_2d": [250, 100, 750, 900], "label": "x"}, {"point_2d": [500, 500], "label": "centre"}'
    const original = await fixtures.jpeg(1600, 1200)
    const resized = await sharp(original).resize(400, 300).jpeg().toBuffer()
    const big = parseGrounding(answer, displayedImageSize(original)!)
    const small = parseGrounding(answer, displayedImageSize(resized)!)
    expect(shapes(big)).toEqual([
      { label: 'x', kind: 'box', box: { x1: 400, y1: 120, x2: 1200, y2: 1080 } },
      { label: 'centre', kind: 'point', point: { x: 800, y: 600 } },
    ])
    expect(shapes(small)).toEqual([
      { label: 'x', kind: 'box', box: { x1: 100, y1: 30, x2: 300, y2: 270 } },
      { label: 'centre', kind: 'point', point: { x: 200, y: 150 } },
    ])
  })
})

describe('groundingPrompt', () => {
  it("asks in the wording of Qwen3-VL's grounding cookbook, for boxes or points, and for every object when no category is named", () => {
    expect(groundingPrompt(' cat, cup ')).toBe('Locate every instance that belongs to the following categories: "cat, cup". Report bbox coordinates in JSON format.')
    expect(groundingPrompt('cat', 'point')).toBe('Locate every instance that belongs to the following categories: "cat". Report point coordinates in JSON format.')
    expect(groundingPrompt('  ')).toBe('Locate every object in the image. Report bbox coordinates in JSON format.')
  })
})
