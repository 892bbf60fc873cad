import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createClient, InvalidImageError } from './index.js'
import { apiError, ok, startScriptedServer, type ScriptedServer } from '../../../test-support/scripted-server.js'
import { fixturesDir } from '../../../test-support/paths.js'

let server: ScriptedServer
beforeEach(async () => {
  server = await startScriptedServer()
})
afterEach(async () => {
  await server.close()
})

const fixture = join(fixturesDir, 'tiny.png')

describe('Conversation', () => {
  it('sends the whole history each turn, with images attached to the turn they were added to', async () => {
    server.script(ok('It is a red square.'), ok('Red.'))
    const client = createClient({ baseURL: server.url })
    const chat = client.conversation({ system: 'Be brief.', temperature: 0.2 })
    await chat.attach(fixture)
    expect(chat.pendingImages).toBe(1)
    await chat.send('What is this?')
    expect(chat.pendingImages).toBe(0)
    const second = await chat.send('What colour again?')
    expect(second.text).toBe('Red.')

    const png = (await readFile(fixture)).toString('base64')
    expect(server.requests[1]?.json?.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
        ],
      },
      { role: 'assistant', content: 'It is a red square.' },
      { role: 'user', content: [{ type: 'text', text: 'What colour again?' }] },
    ])
    expect(server.requests[1]?.json?.temperature).toBe(0.2)
    expect(chat.turns).toBe(2)
  })

  it('does not commit a failed turn, keeping its images for the retry', async () => {
    server.script(apiError(400, 'too long'), ok('fine now'))
    const client = createClient({ baseURL: server.url })
    const chat = client.conversation()
    await expect(chat.send('first try', { images: fixture })).rejects.toThrow('too long')
    expect(chat.messages).toEqual([])
    expect(chat.pendingImages).toBe(1)
    await chat.send('second try')
    expect(chat.messages).toHaveLength(2)
    const content = server.requests[1]?.json?.messages[0]?.content
    expect(Array.isArray(content) && content.some((p) => p.type === 'image_url')).toBe(true)
  })

  it('forgets history and pending images on reset but keeps the system message', async () => {
    const client = createClient({ baseURL: server.url })
    const chat = client.conversation({ system: 'sys' })
    await chat.send('hello')
    await chat.attach(fixture)
    chat.reset()
    expect(chat.pendingImages).toBe(0)
    await chat.send('again')
    expect(server.requests[1]?.json?.messages).toEqual([
      { role: 'system', content: 'sys' },
      { role: 'user', content: [{ type: 'text', text: 'again' }] },
    ])
  })

  it('fails at attach time for a file that is not an image', async () => {
    const chat = createClient({ baseURL: server.url }).conversation()
    await expect(chat.attach(join(import.meta.dirname, 'conversation.test.ts'))).rejects.toThrow(InvalidImageError)
    expect(chat.pendingImages).toBe(0)
  })

  it('hands out copies of its history, so callers cannot corrupt it', async () => {
    const chat = createClient({ baseURL: server.url }).conversation()
    await chat.send('hello')
    chat.messages.pop()
    expect(chat.messages).toHaveLength(2)
  })
})
