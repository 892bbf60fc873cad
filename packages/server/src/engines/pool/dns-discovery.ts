import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { redactUrlCredentials } from '../../redact.js'
import type { MembershipSource, PoolMember, PoolableEngine } from './engine-pool.js'

/** Every address a host name resolves to now (IPv4 and IPv6). */
export type HostResolver = (hostname: string) => Promise<string[]>

export const systemResolver: HostResolver = async (hostname) => (await lookup(hostname, { all: true })).map((a) => a.address)

/** `url` with its host replaced by `address` (IPv6 in brackets), port, path and credentials kept. */
export function urlForAddress(url: string, address: string): string {
  const parsed = new URL(url)
  parsed.hostname = isIP(address) === 6 ? `[${address}]` : address
  return parsed.toString().replace(/\/$/, '')
}

/**
 * A pool's engines from DNS: each URL's host name stands for every address it resolves
 * to, as a Kubernetes headless Service resolves to its ready pods, so engines joining and
 * leaving are picked up at the next resolution. A URL whose host is already an address
 * is one engine. An engine keeps its id (its URL) while its address stays listed.
 */
export function dnsMembership(options: { urls: readonly string[]; intervalMs: number; create: (url: string) => PoolableEngine; resolve?: HostResolver }): MembershipSource {
  const resolve = options.resolve ?? systemResolver
  const known = new Map<string, PoolMember>()
  return {
    intervalMs: options.intervalMs,
    async list() {
      const urls = (
        await Promise.all(
          options.urls.map(async (url) => {
            const host = new URL(url).hostname.replace(/^\[|\]$/g, '')
            if (isIP(host)) return [url.replace(/\/$/, '')]
            const addresses = [...new Set(await resolve(host))].sort()
            return addresses.map((address) => urlForAddress(url, address))
          }),
        )
      ).flat()
      const members = urls.map((url) => {
        const id = redactUrlCredentials(url)
        const member = known.get(id) ?? { id, engine: options.create(url) }
        return member
      })
      known.clear()
      for (const member of members) known.set(member.id, member)
      return members
    },
  }
}
