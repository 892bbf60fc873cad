import { Counter, Gauge, type Registry } from 'prom-client'
import type { Engine, PoolMemberStatus } from '../engines/engine.js'

type Figure = keyof Pick<PoolMemberStatus, 'requests' | 'failures' | 'retries' | 'ejections' | 'affinityHits' | 'affinitySpills'>

const COUNTERS: Array<[name: string, figure: Figure, help: string]> = [
  ['visto_upstream_requests_total', 'requests', 'Requests sent to each engine of the pool (retries included).'],
  ['visto_upstream_failures_total', 'failures', 'Requests an engine failed (refused, died, 5xx), retried elsewhere or not.'],
  ['visto_upstream_retries_total', 'retries', 'Requests an engine took over after another failed before the client saw an answer.'],
  ['visto_upstream_ejections_total', 'ejections', 'Times an engine was taken out of the pool by its circuit breaker.'],
  ['visto_upstream_affinity_hits_total', 'affinityHits', 'Requests with an image or a history that reached the engine they hash to.'],
  ['visto_upstream_affinity_spills_total', 'affinitySpills', 'Requests that hashed to this engine but went to another, because it was beyond the load bound.'],
]

/** Per-engine series (label `upstream`) of a pool, read from it at scrape time; nothing for a single engine. */
export function registerPoolMetrics(registers: Registry[], engine: Engine): void {
  if (!engine.poolStatus) return
  const status = () => engine.poolStatus!()
  for (const [name, figure, help] of COUNTERS) {
    new Counter({
      name,
      help,
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset()
        for (const member of status()) this.inc({ upstream: member.id }, member[figure])
      },
    })
  }
  new Gauge({
    name: 'visto_upstream_in_flight',
    help: 'Requests each engine of the pool holds now.',
    labelNames: ['upstream'],
    registers,
    collect() {
      this.reset()
      for (const member of status()) this.set({ upstream: member.id }, member.inFlight)
    },
  })
  new Gauge({
    name: 'visto_upstream_slots',
    help: 'Requests each engine runs at once (what it reports, or --upstream-parallel / --parallel).',
    labelNames: ['upstream'],
    registers,
    collect() {
      this.reset()
      for (const member of status()) this.set({ upstream: member.id }, member.slots)
    },
  })
  new Gauge({
    name: 'visto_upstream_state',
    help: 'Each engine’s circuit breaker: 1 for its current state of closed (serving), half-open (on trial), open (taken out).',
    labelNames: ['upstream', 'state'],
    registers,
    collect() {
      this.reset()
      for (const member of status()) for (const state of ['closed', 'half-open', 'open'] as const) this.set({ upstream: member.id, state }, member.state === state ? 1 : 0)
    },
  })
}
