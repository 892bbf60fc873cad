import { describe, expect, it } from 'vitest'
import { SlotPicker } from './slot-picker.js'

describe('SlotPicker', () => {
  it('hands out the lowest free slot, so busy slots stay together', async () => {
    const picker = new SlotPicker(8)
    expect(await Promise.all([picker.take(), picker.take(), picker.take(), picker.take()])).toEqual([0, 1, 2, 3])
    picker.give(1)
    picker.give(0)
    // The next round fills the holes first, not the slots llama-server would call least recently used.
    expect(await picker.take()).toBe(0)
    expect(await picker.take()).toBe(1)
    expect(await picker.take()).toBe(4)
    expect(picker.busyCount).toBe(5)
  })

  it('queues past the slot count in arrival order and hands each freed slot to the longest waiter', async () => {
    const picker = new SlotPicker(2)
    await picker.take()
    await picker.take()
    const order: string[] = []
    const first = picker.take().then((slot) => order.push(`first:${slot}`))
    const second = picker.take().then((slot) => order.push(`second:${slot}`))
    await Promise.resolve()
    expect(order).toEqual([])
    picker.give(1)
    await first
    picker.give(0)
    await second
    expect(order).toEqual(['first:1', 'second:0'])
    expect(picker.busyCount).toBe(2)
  })

  it('drops an aborted waiter with the signal reason, and the freed slot goes to the next one', async () => {
    const picker = new SlotPicker(1)
    await picker.take()
    const controller = new AbortController()
    const abandoned = picker.take(controller.signal)
    const next = picker.take()
    controller.abort(new Error('client went away'))
    await expect(abandoned).rejects.toThrow('client went away')
    picker.give(0)
    expect(await next).toBe(0)
    picker.give(0)
    expect(picker.busyCount).toBe(0)
  })

  it('refuses to give back a slot nobody took, and an already aborted take', async () => {
    const picker = new SlotPicker(2)
    expect(() => picker.give(1)).toThrow('slot 1 was not taken')
    await expect(picker.take(AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone')
    expect(picker.busyCount).toBe(0)
    expect(() => new SlotPicker(0)).toThrow(RangeError)
  })
})
