import { isIP } from 'node:net'

/**
 * Which IP addresses a remote image fetch may connect to. Everything that is not
 * ordinary public unicast is refused: loopback, private, carrier-grade NAT,
 * link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254), multicast,
 * reserved and documentation ranges, and IPv6 forms that embed one of those
 * (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo).
 */
export function isPublicAddress(address: string): boolean {
  return blockedReason(address) === null
}

/** Why an address is refused, or null when it is public. */
export function blockedReason(address: string): string | null {
  const bare = address.replace(/^\[|\]$/g, '')
  if (bare.includes('%')) return 'scoped IPv6 address'
  const version = isIP(bare)
  if (version === 4) return ipv4BlockedReason(parseIpv4(bare))
  if (version === 6) return ipv6BlockedReason(parseIpv6(bare))
  return 'not an IP address'
}

function parseIpv4(address: string): number[] {
  return address.split('.').map((part) => Number(part))
}

const ipv4Ranges: Array<[number[], number, string]> = [
  [[0, 0, 0, 0], 8, '"this network" address'],
  [[10, 0, 0, 0], 8, 'private address'],
  [[100, 64, 0, 0], 10, 'carrier-grade NAT address'],
  [[127, 0, 0, 0], 8, 'loopback address'],
  [[169, 254, 0, 0], 16, 'link-local address (cloud metadata lives here)'],
  [[172, 16, 0, 0], 12, 'private address'],
  [[192, 0, 0, 0], 24, 'IETF protocol assignment'],
  [[192, 0, 2, 0], 24, 'documentation address'],
  [[192, 88, 99, 0], 24, '6to4 relay address'],
  [[192, 168, 0, 0], 16, 'private address'],
  [[198, 18, 0, 0], 15, 'benchmarking address'],
  [[198, 51, 100, 0], 24, 'documentation address'],
  [[203, 0, 113, 0], 24, 'documentation address'],
  [[224, 0, 0, 0], 4, 'multicast address'],
  [[240, 0, 0, 0], 4, 'reserved address'],
]

function ipv4ToNumber(octets: number[]): number {
  return ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0
}

function ipv4BlockedReason(octets: number[]): string | null {
  const value = ipv4ToNumber(octets)
  for (const [base, prefix, reason] of ipv4Ranges) {
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0
    if (((value & mask) >>> 0) === ((ipv4ToNumber(base) & mask) >>> 0)) return reason
  }
  return null
}

/** Sixteen bytes for any textual IPv6 form, including `::` and a dotted IPv4 tail. */
function parseIpv6(address: string): number[] {
  let text = address.toLowerCase()
  if (text.includes('.')) {
    // Rewrite a dotted IPv4 tail (::ffff:127.0.0.1) as two hex groups.
    const lastColon = text.lastIndexOf(':')
    const octets = parseIpv4(text.slice(lastColon + 1))
    const high = ((octets[0]! << 8) | octets[1]!).toString(16)
    const low = ((octets[2]! << 8) | octets[3]!).toString(16)
    text = `${text.slice(0, lastColon + 1)}${high}:${low}`
  }
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)))
  let groups: number[]
  const gap = text.indexOf('::')
  if (gap >= 0) {
    const head = parse(text.slice(0, gap))
    const rest = parse(text.slice(gap + 2))
    groups = [...head, ...new Array<number>(Math.max(0, 8 - head.length - rest.length)).fill(0), ...rest]
  } else {
    groups = parse(text)
  }
  const bytes: number[] = []
  for (const group of groups.slice(0, 8)) bytes.push((group >> 8) & 0xff, group & 0xff)
  while (bytes.length < 16) bytes.push(0)
  return bytes
}

function ipv6BlockedReason(bytes: number[]): string | null {
  const allZero = (from: number, to: number): boolean => bytes.slice(from, to).every((byte) => byte === 0)
  const embedded = (from: number): string | null => {
    const reason = ipv4BlockedReason(bytes.slice(from, from + 4))
    return reason === null ? null : `${reason} (embedded in IPv6)`
  }
  if (allZero(0, 16)) return 'unspecified address'
  if (allZero(0, 15) && bytes[15] === 1) return 'loopback address'
  // ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d (IPv4-compatible) reach the IPv4 host.
  if (allZero(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return embedded(12)
  if (allZero(0, 12)) return embedded(12) ?? 'IPv4-compatible address'
  // 64:ff9b::/96 NAT64 and 64:ff9b:1::/48 local-use NAT64.
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b) {
    return allZero(4, 12) ? embedded(12) : 'local-use NAT64 address'
  }
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return embedded(2) ?? null // 6to4 carries a public IPv4 host
  if (bytes[0] === 0x20 && bytes[1] === 0x01 && bytes[2] === 0x00 && bytes[3] === 0x00) return 'Teredo tunnel address'
  if (bytes[0] === 0x20 && bytes[1] === 0x01 && bytes[2] === 0x0d && bytes[3] === 0xb8) return 'documentation address'
  if (bytes[0] === 0x01 && bytes[1] === 0x00 && allZero(2, 8)) return 'discard-only address'
  if ((bytes[0]! & 0xfe) === 0xfc) return 'unique local (private) address'
  if (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80) return 'link-local address'
  if (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0xc0) return 'site-local address'
  if (bytes[0] === 0xff) return 'multicast address'
  // Only global unicast (2000::/3) is public.
  if ((bytes[0]! & 0xe0) !== 0x20) return 'reserved address'
  return null
}
