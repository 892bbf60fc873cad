import { lookup as dnsLookup } from 'node:dns/promises'
import http from 'node:http'
import https from 'node:https'
import { isIP, type LookupFunction } from 'node:net'
import { formatBytes } from '@visto/protocol'
import { blockedReason } from './address-policy.js'
import { imageTooLarge, invalidImage, type ImageLocation } from './image-errors.js'

export interface ResolvedAddress {
  address: string
  family: 4 | 6
}

export interface RemoteFetchOptions {
  timeoutMs: number
  maxBytes: number
  maxRedirects: number
  /** DNS resolution; tests inject one. Defaults to the system resolver. */
  resolve?: (hostname: string) => Promise<ResolvedAddress[]>
  /**
   * Why an address must not be contacted, or null to allow it. Defaults to refusing
   * everything but public unicast; tests allow 127.0.0.1 to reach a local server.
   */
  addressPolicy?: (address: string) => string | null
}

async function systemResolve(hostname: string): Promise<ResolvedAddress[]> {
  const results = await dnsLookup(hostname, { all: true, verbatim: true })
  return results.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }))
}

const redirectStatuses = new Set([301, 302, 303, 307, 308])

/**
 * Fetches an image over http(s) with an SSRF guard: the host is resolved first and
 * every address checked; the connection goes to the checked address (so DNS
 * rebinding cannot swap it between check and connect); redirects are followed by hand
 * and each hop is checked again; size and time are capped.
 */
export async function fetchRemoteImage(url: URL, location: ImageLocation, options: RemoteFetchOptions, signal?: AbortSignal): Promise<Buffer> {
  const timeout = AbortSignal.timeout(options.timeoutMs)
  const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
  const fail = (reason: string, code = 'remote_image_failed'): Error => invalidImage(location, reason, { code })

  let current = url
  for (let hop = 0; ; hop++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      throw fail(`the image URL redirected to an unsupported scheme "${current.protocol}"`, 'invalid_image_url')
    }
    const target = await resolveChecked(current, options, fail)
    let response: http.IncomingMessage
    try {
      response = await sendRequest(current, target, combined)
    } catch (error) {
      throw networkFailure(error, current, options, timeout, fail)
    }
    const status = response.statusCode ?? 0
    if (redirectStatuses.has(status)) {
      response.resume()
      const next = response.headers.location
      if (next === undefined) throw fail(`${current.host} answered ${status} without a Location header`)
      if (hop >= options.maxRedirects) throw fail(`fetching the image took more than ${options.maxRedirects} redirects`)
      try {
        current = new URL(next, current)
      } catch {
        throw fail(`${current.host} redirected to an invalid URL`)
      }
      continue
    }
    if (status !== 200) {
      response.resume()
      throw fail(`fetching the image from ${current.host} failed: the server answered HTTP ${status}`)
    }
    const declared = Number(response.headers['content-length'])
    if (Number.isFinite(declared) && declared > options.maxBytes) {
      response.destroy()
      throw remoteTooLarge(location, declared, options.maxBytes)
    }
    try {
      return await readCapped(response, options.maxBytes, location)
    } catch (error) {
      if (error instanceof Error && 'status' in error) throw error
      throw networkFailure(error, current, options, timeout, fail)
    }
  }
}

function remoteTooLarge(location: ImageLocation, bytes: number, maxBytes: number): Error {
  return imageTooLarge(
    location,
    `the remote image is ${bytes > maxBytes ? `more than ${formatBytes(maxBytes)}` : formatBytes(bytes)}, over the limit of ${formatBytes(maxBytes)} (--max-image-mb)`,
    'image_too_large',
  )
}

function networkFailure(error: unknown, url: URL, options: RemoteFetchOptions, timeout: AbortSignal, fail: (reason: string, code?: string) => Error): Error {
  if (timeout.aborted) return fail(`fetching the image from ${url.host} timed out after ${options.timeoutMs} ms`, 'remote_image_timeout')
  if (error instanceof Error && error.name === 'AbortError') return fail('the request was cancelled while fetching the image', 'remote_image_cancelled')
  const code = (error as { code?: string }).code
  return fail(`could not fetch the image from ${url.host}${code ? ` (${code})` : ''}`)
}

async function resolveChecked(url: URL, options: RemoteFetchOptions, fail: (reason: string, code?: string) => Error): Promise<ResolvedAddress> {
  const policy = options.addressPolicy ?? blockedReason
  const hostname = url.hostname.replace(/^\[|\]$/g, '')
  let addresses: ResolvedAddress[]
  if (isIP(hostname) !== 0) {
    addresses = [{ address: hostname, family: isIP(hostname) === 6 ? 6 : 4 }]
  } else {
    try {
      addresses = await (options.resolve ?? systemResolve)(hostname)
    } catch {
      throw fail(`could not resolve the host ${hostname}`, 'remote_image_failed')
    }
  }
  if (addresses.length === 0) throw fail(`could not resolve the host ${hostname}`, 'remote_image_failed')
  // Refuse when any answer is internal, so round-robin DNS cannot smuggle one in.
  for (const entry of addresses) {
    const reason = policy(entry.address)
    if (reason !== null) {
      throw fail(`refusing to fetch ${url.host}: it resolves to ${entry.address}, a ${reason}`, 'remote_image_forbidden')
    }
  }
  return addresses[0]!
}

function sendRequest(url: URL, target: ResolvedAddress, signal: AbortSignal): Promise<http.IncomingMessage> {
  // Pin the connection to the address we checked; the hostname still drives Host and TLS SNI.
  const pinnedLookup = ((_hostname: string, lookupOptions: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (lookupOptions?.all) callback(null, [{ address: target.address, family: target.family }])
    else callback(null, target.address, target.family)
  }) as unknown as LookupFunction
  const client = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'GET',
        headers: { accept: 'image/*', 'user-agent': 'visto-image-fetch' },
        lookup: pinnedLookup,
        agent: false,
        signal,
      },
      resolve,
    )
    request.on('error', reject)
    request.end()
  })
}

async function readCapped(response: http.IncomingMessage, maxBytes: number, location: ImageLocation): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of response) {
    const buffer = chunk as Buffer
    total += buffer.length
    if (total > maxBytes) {
      response.destroy()
      throw remoteTooLarge(location, total, maxBytes)
    }
    chunks.push(buffer)
  }
  return Buffer.concat(chunks, total)
}
