import { describe, expect, it } from 'vitest'
import { redactUrlCredentials, splitUrlCredentials } from './redact.js'

describe('redactUrlCredentials', () => {
  it.each([
    ['http://user:pass@gpu-box:8000/v1', 'http://gpu-box:8000/v1'],
    ['https://token@host/v1', 'https://host/v1'],
    ['http://user:p@ss@host/v1?q=1', 'http://host/v1?q=1'],
    ['http://us%40er:p%3Ass@10.0.0.2:8000', 'http://10.0.0.2:8000'],
    ['HTTP://U:P@HOST/', 'HTTP://HOST/'],
    ['upstream http://a:b@x/v1 unreachable: see http://c:d@y/z and mail me@example.com', 'upstream http://x/v1 unreachable: see http://y/z and mail me@example.com'],
  ])('%s → %s', (input, expected) => {
    expect(redactUrlCredentials(input)).toBe(expected)
  })

  it('leaves URLs without credentials and plain text alone', () => {
    for (const text of ['http://gpu-box:8000/v1', 'http://host/path/@handle', 'http://host/v1?user=a@b', 'no urls here, a@b.c', '/work/models/a.gguf']) {
      expect(redactUrlCredentials(text)).toBe(text)
    }
  })
})

describe('splitUrlCredentials', () => {
  it('moves userinfo into a Basic authorization value, decoding percent-escapes', () => {
    const { url, basicAuth } = splitUrlCredentials('http://us%40er:p%3Ass@gpu-box:8000/v1')
    expect(url).toBe('http://gpu-box:8000/v1')
    expect(Buffer.from(basicAuth!.replace(/^Basic /, ''), 'base64').toString()).toBe('us@er:p:ss')
  })

  it('leaves a URL without credentials as it is', () => {
    expect(splitUrlCredentials('http://gpu-box:8000/v1/')).toEqual({ url: 'http://gpu-box:8000/v1/', basicAuth: undefined })
  })
})
