import { describe, expect, it } from 'vitest'
import { CircuitBreaker } from './circuit-breaker.js'

const options = { threshold: 3, openMs: 1000, maxOpenMs: 4000 }

describe('the circuit breaker', () => {
  it('opens after the threshold of consecutive failures, not before, and a success resets the count', () => {
    const breaker = new CircuitBreaker(options)
    breaker.failed(0, 'refused')
    breaker.failed(0, 'refused')
    breaker.succeeded()
    breaker.failed(0, 'refused')
    breaker.failed(0, 'refused')
    expect(breaker.state).toBe('closed')
    breaker.failed(0, 'refused')
    expect(breaker.state).toBe('open')
    expect(breaker.available).toBe(false)
    expect(breaker.ejections).toBe(1)
    expect(breaker.reason).toBe('refused')
  })

  it('waits its delay before a probe may put the engine on trial, then closes on success', () => {
    const breaker = new CircuitBreaker(options)
    breaker.probeFailed(0, 'down')
    expect(breaker.state).toBe('open')
    expect(breaker.retryInMs(400)).toBe(600)
    breaker.probePassed(500)
    expect(breaker.state).toBe('open')
    breaker.probePassed(1000)
    expect(breaker.state).toBe('half-open')
    expect(breaker.available).toBe(true)
    breaker.succeeded()
    expect(breaker.state).toBe('closed')
    expect(breaker.reason).toBeUndefined()
  })

  it('opens again at the first failure on trial, with the delay doubled up to the maximum', () => {
    const breaker = new CircuitBreaker(options)
    breaker.probeFailed(0, 'down')
    let now = 0
    for (const expected of [2000, 4000, 4000]) {
      now += breaker.retryInMs(now)
      breaker.probePassed(now)
      expect(breaker.state).toBe('half-open')
      breaker.failed(now, 'still down')
      expect(breaker.state).toBe('open')
      expect(breaker.retryInMs(now)).toBe(expected)
    }
    expect(breaker.ejections).toBe(4)
  })

  it('keeps a probe that fails again at its retry time out, for longer', () => {
    const breaker = new CircuitBreaker(options)
    breaker.startFailed(0, 'not started')
    expect(breaker.retryInMs(0)).toBe(1000)
    breaker.probeFailed(1000, 'connection refused')
    expect(breaker.state).toBe('open')
    expect(breaker.retryInMs(1000)).toBe(2000)
    expect(breaker.reason).toBe('connection refused')
    breaker.admit()
    expect(breaker.state).toBe('closed')
  })
})
