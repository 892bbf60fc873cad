import { describe, expect, it } from 'vitest'
import { OverloadedError } from '../errors.js'
import { Admission } from './admission.js'

describe('Admission', () => {
  it('runs up to `parallel` at once and hands released slots to waiters in order', async () => {
    const admission = new Admission(2, 10)
    const never = new AbortController().signal
    const a = await admission.acquire(never)
    await admission.acquire(never)
    const order: string[] = []
    const c = admission.acquire(never).then((release) => {
      order.push('c')
      return release
    })
    const d = admission.acquire(never).then((release) => {
      order.push('d')
      return release
    })
    expect(admission.running).toBe(2)
    expect(admission.queued).toBe(2)
    a()
    ;(await c)()
    await d
    expect(order).toEqual(['c', 'd'])
    expect(admission.queued).toBe(0)
  })

  it('answers 503 with Retry-After when the queue is full', async () => {
    const admission = new Admission(1, 1)
    const never = new AbortController().signal
    await admission.acquire(never)
    void admission.acquire(never)
    const error = await admission.acquire(never).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(OverloadedError)
    expect((error as OverloadedError).status).toBe(503)
    expect(Number((error as OverloadedError).headers['retry-after'])).toBeGreaterThanOrEqual(1)
  })

  it('drops a waiter whose client went away', async () => {
    const admission = new Admission(1, 5)
    const release = await admission.acquire(new AbortController().signal)
    const controller = new AbortController()
    const waiting = admission.acquire(controller.signal)
    controller.abort(new Error('gone'))
    await expect(waiting).rejects.toThrow('gone')
    expect(admission.queued).toBe(0)
    release()
    expect(admission.running).toBe(0)
  })

  it('refuses new and queued work while draining, and lets running work finish', async () => {
    const admission = new Admission(1, 5)
    const release = await admission.acquire(new AbortController().signal)
    const queued = admission.acquire(new AbortController().signal)
    admission.drain()
    await expect(queued).rejects.toThrow('shutting down')
    await expect(admission.acquire(new AbortController().signal)).rejects.toBeInstanceOf(OverloadedError)
    expect(admission.running).toBe(1)
    release()
    expect(admission.running).toBe(0)
  })

  it('counts reservations (requests decoding images) toward capacity, and turns them into slots', async () => {
    const admission = new Admission(1, 1)
    const never = new AbortController().signal
    const a = admission.reserve()
    const b = admission.reserve()
    expect(admission.reserved).toBe(2)
    const full = (() => {
      try {
        admission.reserve()
      } catch (error) {
        return error
      }
    })()
    expect(full).toBeInstanceOf(OverloadedError)
    expect((full as OverloadedError).message).toBe('The server is at capacity (0 running, 0 queued, 2 preparing images). Retry after the Retry-After delay.')
    await expect(admission.acquire(never)).rejects.toBeInstanceOf(OverloadedError)

    const releaseA = await admission.acquire(never, a)
    const waitingB = admission.acquire(never, b)
    expect([admission.running, admission.queued, admission.reserved]).toEqual([1, 1, 0])
    releaseA()
    ;(await waitingB)()
    expect([admission.running, admission.queued, admission.reserved]).toEqual([0, 0, 0])
  })

  it('gives a cancelled reservation back once, and ignores a cancel after it became a slot', async () => {
    const admission = new Admission(1, 0)
    const reservation = admission.reserve()
    reservation.cancel()
    reservation.cancel()
    expect(admission.reserved).toBe(0)
    const again = admission.reserve()
    const release = await admission.acquire(new AbortController().signal, again)
    again.cancel()
    expect([admission.running, admission.reserved]).toEqual([1, 0])
    release()
  })

  it('gives new slots to waiting requests at once when the capacity grows, and starts nobody while above a smaller one', async () => {
    const admission = new Admission(1, 4)
    const signal = new AbortController().signal
    const first = await admission.acquire(signal)
    let second: (() => void) | undefined
    void admission.acquire(signal).then((release) => (second = release))
    await new Promise((r) => setTimeout(r, 0))
    expect(admission.queued).toBe(1)
    admission.setCapacity(2)
    await new Promise((r) => setTimeout(r, 0))
    expect(second).toBeDefined()
    expect(admission.running).toBe(2)
    admission.setCapacity(1)
    let third: (() => void) | undefined
    void admission.acquire(signal).then((release) => (third = release))
    first()
    await new Promise((r) => setTimeout(r, 0))
    expect(third).toBeUndefined()
    second!()
    await new Promise((r) => setTimeout(r, 0))
    expect(third).toBeDefined()
    expect(admission.running).toBe(1)
  })
})
