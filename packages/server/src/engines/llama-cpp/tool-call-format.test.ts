import { describe, expect, it } from 'vitest'
import { ToolCallParser, toolCallSchema } from './tool-call-format.js'

/** Feeds `pieces` as a stream would and returns every event, ids numbered. */
function parse(pieces: string[], options: { insideCall?: boolean; maxCalls?: number } = {}) {
  let id = 0
  const parser = new ToolCallParser(options.insideCall ?? false, options.maxCalls, () => `call_${id++}`)
  const events = [...pieces.flatMap((p) => parser.push(p)), ...parser.finish()]
  return { events, calls: parser.callCount }
}

/** Every split of `text` into two pieces: a tag cut anywhere must parse the same. */
function everySplit(text: string): string[][] {
  return Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)])
}

const oneCall = 'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo", "days": 2}}\n</tool_call>'

describe('ToolCallParser (Qwen3-VL <tool_call> format)', () => {
  it('splits text and a call, wherever the stream cuts the tags', () => {
    for (const pieces of everySplit(oneCall)) {
      const { events, calls } = parse(pieces)
      const text = events
        .filter((e) => e.type === 'text')
        .map((e) => (e as { text: string }).text)
        .join('')
      expect(text).toBe('Let me look.')
      expect(events.filter((e) => e.type !== 'text')).toEqual([
        { type: 'tool_call', index: 0, id: 'call_0', name: 'get_weather' },
        { type: 'tool_call_arguments', index: 0, text: '{"city":"Oslo","days":2}' },
      ])
      expect(calls).toBe(1)
    }
  })

  it('reads parallel calls in order, without the line breaks between them', () => {
    const text = '<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {"x": [1]}}\n</tool_call>\n'
    expect(parse([text]).events).toEqual([
      { type: 'tool_call', index: 0, id: 'call_0', name: 'a' },
      { type: 'tool_call_arguments', index: 0, text: '{}' },
      { type: 'tool_call', index: 1, id: 'call_1', name: 'b' },
      { type: 'tool_call_arguments', index: 1, text: '{"x":[1]}' },
    ])
  })

  it('keeps only the first call when parallel calls are off', () => {
    const text = '<tool_call>{"name": "a", "arguments": {}}</tool_call><tool_call>{"name": "b", "arguments": {}}</tool_call>'
    const { events, calls } = parse([text], { maxCalls: 1 })
    expect(events.map((e) => e.type)).toEqual(['tool_call', 'tool_call_arguments'])
    expect(calls).toBe(1)
  })

  it('leaves text that only resembles a tag, or a block that is not a call, as the text it was', () => {
    const resembles = parse(['a <tool', 'box> b']).events
    expect(resembles[0]).toEqual({ type: 'text', text: 'a' })
    expect(resembles.map((e) => (e as { text: string }).text).join('')).toBe('a <toolbox> b')
    const notJson = 'x<tool_call>not json</tool_call>y'
    expect(
      parse([notJson])
        .events.map((e) => (e as { text: string }).text)
        .join(''),
    ).toBe(notJson)
    expect(parse(['<tool_call>{"arguments": {}}</tool_call>']).calls).toBe(0)
  })

  it('passes plain text through unchanged, trailing space included, when no call comes', () => {
    expect(
      parse(['Hello ', 'world \n'])
        .events.map((e) => (e as { text: string }).text)
        .join(''),
    ).toBe('Hello world \n')
  })

  it('reads a call the prompt opened, which ends without its closing tag (tool_choice required)', () => {
    expect(parse(['{"name": "f", "argu', 'ments": {"q": "\\u00e9"}}\n'], { insideCall: true }).events).toEqual([
      { type: 'tool_call', index: 0, id: 'call_0', name: 'f' },
      { type: 'tool_call_arguments', index: 0, text: '{"q":"é"}' },
    ])
    // Cut by max_tokens: what was generated stays text, without a tag the model never wrote.
    expect(parse(['{"name": "f", "argu'], { insideCall: true })).toEqual({ events: [{ type: 'text', text: '{"name": "f", "argu' }], calls: 0 })
  })

  it('keeps arguments the model wrote as a string', () => {
    expect(parse(['<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>']).events[1]).toEqual({ type: 'tool_call_arguments', index: 0, text: '{"a": 1}' })
  })
})

describe('toolCallSchema', () => {
  const functions = [
    { name: 'a', parameters: { type: 'object', properties: { item: { $ref: '#/$defs/item' } }, $defs: { item: { type: 'string', enum: ['#/x'] } } } },
    { name: 'b' },
  ]

  it('allows exactly the named function, its parameter refs rebased onto their new place', () => {
    expect(toolCallSchema({ functions, choice: { name: 'a' }, parallel: true })).toEqual({
      type: 'object',
      properties: {
        name: { const: 'a' },
        arguments: { type: 'object', properties: { item: { $ref: '#/properties/arguments/$defs/item' } }, $defs: { item: { type: 'string', enum: ['#/x'] } } },
      },
      required: ['name', 'arguments'],
      additionalProperties: false,
    })
  })

  it('allows any of the functions for required, a function without parameters taking any object', () => {
    const schema = toolCallSchema({ functions, choice: 'required', parallel: true }) as {
      anyOf: Array<{ properties: { name: unknown; arguments: { properties?: { item: unknown } } } }>
    }
    expect(schema.anyOf.map((v) => v.properties.name)).toEqual([{ const: 'a' }, { const: 'b' }])
    expect(schema.anyOf[0]!.properties.arguments.properties!.item).toEqual({ $ref: '#/anyOf/0/properties/arguments/$defs/item' })
    expect(schema.anyOf[1]!.properties.arguments).toEqual({ type: 'object' })
  })
})
