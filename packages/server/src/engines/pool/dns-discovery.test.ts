import { describe, expect, it } from 'vitest'
import { ScriptedEngine } from '../../../../../test-support/scripted-engine.js'
import { dnsMembership, urlForAddress } from './dns-discovery.js'

describe('DNS discovery', () => {
  it('makes every address a name resolves to an engine, and keeps an engine while its address stays', async () => {
    let addresses = ['127.0.0.3', '127.0.0.2']
    const created: string[] = []
    const membership = dnsMembership({
      urls: ['http://engines.default.svc:8080/v1', 'http://10.0.0.9:8000/v1/'],
      intervalMs: 1000,
      create: (url) => {
        created.push(url)
        return new ScriptedEngine()
      },
      resolve: async (host) => (host === 'engines.default.svc' ? addresses : []),
    })
    const first = await membership.list()
    expect(first.map((m) => m.id)).toEqual(['http://127.0.0.2:8080/v1', 'http://127.0.0.3:8080/v1', 'http://10.0.0.9:8000/v1'])
    addresses = ['127.0.0.2', '127.0.0.4']
    const second = await membership.list()
    expect(second.map((m) => m.id)).toEqual(['http://127.0.0.2:8080/v1', 'http://127.0.0.4:8080/v1', 'http://10.0.0.9:8000/v1'])
    expect(second[0]!.engine).toBe(first[0]!.engine)
    expect(created).toEqual(['http://127.0.0.2:8080/v1', 'http://127.0.0.3:8080/v1', 'http://10.0.0.9:8000/v1', 'http://127.0.0.4:8080/v1'])
  })

  it('writes IPv6 addresses in brackets and keeps credentials in the URL but not in the id', async () => {
    expect(urlForAddress('http://user:pw@engines:8000/v1', '::1')).toBe('http://user:pw@[::1]:8000/v1')
    const membership = dnsMembership({ urls: ['http://user:pw@engines:8000/v1'], intervalMs: 1000, create: () => new ScriptedEngine(), resolve: async () => ['10.1.2.3'] })
    expect((await membership.list()).map((m) => m.id)).toEqual(['http://10.1.2.3:8000/v1'])
  })
})
