import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { EngineMessage } from '../engine.js'
import { routingKey, routingKeys } from './routing-key.js'

const image = (bytes: string) => ({ type: 'image' as const, image: { data: Buffer.from(bytes), mime: 'image/png', width: 32, height: 32 } })
const text = (t: string) => ({ type: 'text' as const, text: t })

describe('the routing key', () => {
  it('is the sha256 of the first image’s normalised bytes, as the engine’s embedding cache keys them', () => {
    const messages: EngineMessage[] = [{ role: 'user', content: [text('What is this?'), image('first'), image('second')] }]
    expect(routingKey({ messages })).toBe(`image:${createHash('sha256').update('first').digest('hex')}`)
  })

  it('stays on the first image for every later turn of the conversation', () => {
    const first: EngineMessage[] = [{ role: 'user', content: [image('photo'), text('Describe it.')] }]
    const later: EngineMessage[] = [...first, { role: 'assistant', content: [text('A cat.')] }, { role: 'user', content: [text('And now this one?'), image('other')] }]
    expect(routingKey({ messages: later })).toBe(routingKey({ messages: first }))
  })

  it('keys a text-only conversation with history by its leading prefix, whatever comes after', () => {
    const start: EngineMessage[] = [
      { role: 'system', content: [text('Be brief.')] },
      { role: 'user', content: [text('Tell me about Lisbon.')] },
      { role: 'assistant', content: [text('A city.')] },
    ]
    const a = routingKey({ messages: [...start, { role: 'user', content: [text('More?')] }] })
    const b = routingKey({ messages: [...start, { role: 'assistant', content: [text('By the sea.')] }, { role: 'user', content: [text('Weather?')] }] })
    expect(a).toMatch(/^prefix:[0-9a-f]{64}$/)
    expect(b).toBe(a)
    const otherSystem = routingKey({ messages: [{ role: 'system', content: [text('Be long.')] }, ...start.slice(1), { role: 'user', content: [text('More?')] }] })
    expect(otherSystem).not.toBe(a)
  })

  it('has no key for a first text-only question', () => {
    expect(
      routingKey({
        messages: [
          { role: 'system', content: [text('Be brief.')] },
          { role: 'user', content: [text('Hi')] },
        ],
      }),
    ).toBeUndefined()
  })

  it('names a conversation by its leading prefix: every later turn repeats it, another question about the same photo does not', () => {
    const first: EngineMessage[] = [
      { role: 'system', content: [text('Be brief.')] },
      { role: 'user', content: [image('photo'), text('Describe it.')] },
    ]
    const later: EngineMessage[] = [...first, { role: 'assistant', content: [text('A cat.')] }, { role: 'user', content: [text('Its colour?'), image('other')] }]
    const other: EngineMessage[] = [first[0]!, { role: 'user', content: [image('photo'), text('Count the cats.')] }]
    const [a, b, c] = [first, later, other].map((messages) => routingKeys({ messages }))
    expect(a!.conversation).toMatch(/^conversation:[0-9a-f]{64}$/)
    expect(b!.conversation).toBe(a!.conversation)
    expect(c!.conversation).not.toBe(a!.conversation)
    expect(c!.key).toBe(a!.key)
    expect([a!.followUp, b!.followUp, c!.followUp]).toEqual([false, true, false])
    // The photo's bytes are part of it: the same question about another photo is another conversation.
    const otherPhoto = routingKeys({ messages: [first[0]!, { role: 'user', content: [image('photo 2'), text('Describe it.')] }] })
    expect(otherPhoto.conversation).not.toBe(a!.conversation)
  })

  it('finds the first image in a later turn when the first message has none, as before', () => {
    const messages: EngineMessage[] = [
      { role: 'user', content: [text('Hello.')] },
      { role: 'assistant', content: [text('Hi.')] },
      { role: 'user', content: [text('This?'), image('late')] },
    ]
    expect(routingKey({ messages })).toBe(`image:${createHash('sha256').update('late').digest('hex')}`)
    expect(routingKeys({ messages }).followUp).toBe(true)
  })
})
