import { describe, expect, it } from 'vitest'
import { OverloadedError } from '../errors.js'
import { Admission } from './admission.js'

const tick = () => new Promise((r) => setImmediate(r))

describe('Admission: background (batch) slots', () => {
  it('grants a free slot at once, but never more than the background limit', async () => {
    const admission = new Admission(3, 10)
    const never = new AbortController().signal
    const first = await admission.acquireBackground(2, never)
    await admission.acquireBackground(2, never)
    let third = false
    void admission.acquireBackground(2, never).then(() => (third = true))
    await tick()
    expect(third).toBe(false)
    expect(admission.running).toBe(2)
    // The free slot still serves interactive requests.
    const interactive = await admission.acquire(never)
    expect(admission.running).toBe(3)
    interactive()
    await tick()
    expect(third).toBe(false)
    first()
    await tick()
    expect(third).toBe(true)
  })

  it('lets an interactive request still decoding its images go first, and a taken place become its slot', async () => {
    const admission = new Admission(1, 10)
    const never = new AbortController().signal
    const place = admission.reserve()
    let background = false
    void admission.acquireBackground(1, never).then(() => (background = true))
    await tick()
    expect(background).toBe(false)
    const slot = await admission.acquire(never, place)
    await tick()
    expect(background).toBe(false)
    slot()
    await tick()
    expect(background).toBe(true)

    // A place given back without being used frees the way for background work at once.
    const other = new Admission(1, 10)
    const cancelled = other.reserve()
    let granted = false
    void other.acquireBackground(1, never).then(() => (granted = true))
    await tick()
    expect(granted).toBe(false)
    cancelled.cancel()
    await tick()
    expect(granted).toBe(true)
  })

  it('gives a released slot to a waiting interactive request before any background waiter', async () => {
    const admission = new Admission(1, 10)
    const never = new AbortController().signal
    const batchLine = await admission.acquireBackground(1, never)
    const order: string[] = []
    const nextBatchLine = admission.acquireBackground(1, never).then((release) => {
      order.push('batch')
      return release
    })
    const interactive = admission.acquire(never).then((release) => {
      order.push('interactive')
      return release
    })
    await tick()
    batchLine()
    ;(await interactive)()
    ;(await nextBatchLine)()
    expect(order).toEqual(['interactive', 'batch'])
    expect(admission.running).toBe(0)
  })

  it('leaves the queue when aborted, and rejects waiters when draining', async () => {
    const admission = new Admission(1, 10)
    const never = new AbortController().signal
    const held = await admission.acquire(never)
    const controller = new AbortController()
    const aborted = admission.acquireBackground(1, controller.signal)
    controller.abort(new Error('cancelled'))
    await expect(aborted).rejects.toThrow('cancelled')
    const draining = admission.acquireBackground(1, never)
    admission.drain()
    await expect(draining).rejects.toBeInstanceOf(OverloadedError)
    await expect(admission.acquireBackground(1, never)).rejects.toMatchObject({ code: 'shutting_down' })
    held()
    expect(admission.running).toBe(0)
  })
})
