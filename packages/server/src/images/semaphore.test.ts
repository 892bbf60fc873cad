import { describe, expect, it } from 'vitest'
import { Semaphore } from './semaphore.js'

describe('Semaphore', () => {
  it('never lets more than its limit run at once and serves waiters in order', async () => {
    const semaphore = new Semaphore(2)
    let running = 0
    let peak = 0
    const order: number[] = []
    const task = (id: number) =>
      semaphore.run(async () => {
        running++
        peak = Math.max(peak, running)
        await new Promise((resolve) => setTimeout(resolve, 5))
        order.push(id)
        running--
        return id
      })
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map(task))
    expect(results).toEqual([1, 2, 3, 4, 5, 6])
    expect(peak).toBe(2)
    expect(order.slice(2)).toEqual([3, 4, 5, 6])
    expect(semaphore.inUse).toBe(0)
  })

  it('releases its slot when a task throws', async () => {
    const semaphore = new Semaphore(1)
    await expect(semaphore.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    await expect(semaphore.run(async () => 'next')).resolves.toBe('next')
  })

  it('drops a waiter whose signal aborts, without taking a slot', async () => {
    const semaphore = new Semaphore(1)
    let finishFirst: () => void = () => {}
    const first = semaphore.run(() => new Promise<void>((resolve) => (finishFirst = resolve)))
    const controller = new AbortController()
    let ran = false
    const waiting = semaphore.run(async () => {
      ran = true
    }, controller.signal)
    expect(semaphore.queued).toBe(1)
    controller.abort(new Error('client disconnected'))
    await expect(waiting).rejects.toThrow('client disconnected')
    expect(semaphore.queued).toBe(0)
    finishFirst()
    await first
    expect(ran).toBe(false)
    expect(semaphore.inUse).toBe(0)
    await expect(semaphore.run(async () => 'later', AbortSignal.abort(new Error('already gone')))).rejects.toThrow('already gone')
  })
})
