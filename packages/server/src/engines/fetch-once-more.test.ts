import { describe, expect, it } from 'vitest'
import { fetchOnceMore } from './fetch-once-more.js'

describe('fetchOnceMore', () => {
  it('sends again after a failure without a response, at most twice more', async () => {
    let calls = 0
    const flaky = async () => {
      calls++
      if (calls < 3) throw new TypeError('fetch failed: other side closed')
      return new Response('ok')
    }
    expect(await (await fetchOnceMore(flaky, () => true)).text()).toBe('ok')
    expect(calls).toBe(3)
    calls = -10
    await expect(fetchOnceMore(flaky, () => true)).rejects.toThrow('other side closed')
    expect(calls).toBe(-7)
  })

  it('does not send again when the caller says no (client gone, engine down)', async () => {
    let calls = 0
    await expect(
      fetchOnceMore(
        async () => {
          calls++
          throw new Error('refused')
        },
        () => false,
      ),
    ).rejects.toThrow('refused')
    expect(calls).toBe(1)
  })
})
