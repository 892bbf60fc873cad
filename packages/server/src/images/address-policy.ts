import { BlockList, isIP } from 'node:net'

/**
 * Which IP addresses a remote image fetch may connect to. Everything that is not
 * ordinary public unicast is refused: loopback, private, carrier-grade NAT,
 * link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254), multicast,
 * reserved and documentation ranges, and IPv6 forms that embed one of those
 * (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo). The range arithmetic is Node's
 * `net.BlockList`; this file only says which ranges, in which order, and why.
 */
export function isPublicAddress(address: string): boolean {
  return blockedReason(address) === null
}

/** Why an address is refused, or null when it is public. */
export function blockedReason(address: string): string | null {
  const bare = address.replace(/^\[|\]$/g, '')
  if (bare.includes('%')) return 'scoped IPv6 address'
  const version = isIP(bare)
  if (version === 4) return firstMatch(ipv4Rules, bare, 'ipv4') ?? null
  if (version === 6) {
    const verdict = firstMatch(ipv6Rules, bare, 'ipv6')
    return verdict === undefined ? 'reserved address' : verdict
  }
  return 'not an IP address'
}

/** A range and its verdict: a reason to refuse, or null for "public, stop looking". */
interface Rule {
  range: BlockList
  reason: string | null
}

/** The verdict of the first rule whose range holds the address; undefined when none does. */
function firstMatch(rules: readonly Rule[], address: string, family: 'ipv4' | 'ipv6'): string | null | undefined {
  for (const rule of rules) if (rule.range.check(address, family)) return rule.reason
  return undefined
}

function rule(reason: string | null, family: 'ipv4' | 'ipv6', ...subnets: Array<[string, number]>): Rule {
  const range = new BlockList()
  for (const [network, prefix] of subnets) range.addSubnet(network, prefix, family)
  return { range, reason }
}

const ipv4Ranges: Array<[string, number, string]> = [
  ['0.0.0.0', 8, '"this network" address'],
  ['10.0.0.0', 8, 'private address'],
  ['100.64.0.0', 10, 'carrier-grade NAT address'],
  ['127.0.0.0', 8, 'loopback address'],
  ['169.254.0.0', 16, 'link-local address (cloud metadata lives here)'],
  ['172.16.0.0', 12, 'private address'],
  ['192.0.0.0', 24, 'IETF protocol assignment'],
  ['192.0.2.0', 24, 'documentation address'],
  ['192.88.99.0', 24, '6to4 relay address'],
  ['192.168.0.0', 16, 'private address'],
  ['198.18.0.0', 15, 'benchmarking address'],
  ['198.51.100.0', 24, 'documentation address'],
  ['203.0.113.0', 24, 'documentation address'],
  ['224.0.0.0', 4, 'multicast address'],
  ['240.0.0.0', 4, 'reserved address'],
]

const ipv4Rules: Rule[] = ipv4Ranges.map(([network, prefix, reason]) => rule(reason, 'ipv4', [network, prefix]))

/**
 * The refused IPv4 ranges as they appear inside an IPv6 prefix that carries an IPv4
 * address at bit `offset`: `embed(network)` writes the IPv6 form of an IPv4 network.
 */
function embeddedIpv4Rules(offset: number, embed: (ipv4: string) => string): Rule[] {
  return ipv4Ranges.map(([network, prefix, reason]) => rule(`${reason} (embedded in IPv6)`, 'ipv6', [embed(network), offset + prefix]))
}

/** 2002:AABB:CCDD:: for the IPv4 address A.B.C.D (6to4 writes it in hex). */
function sixToFour(ipv4: string): string {
  const [a, b, c, d] = ipv4.split('.').map(Number) as [number, number, number, number]
  return `2002:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}::`
}

// Order matters: the embedded-IPv4 forms come before the wider ranges that hold them.
const ipv6Rules: Rule[] = [
  rule('unspecified address', 'ipv6', ['::', 128]),
  rule('loopback address', 'ipv6', ['::1', 128]),
  // ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d (IPv4-compatible) reach the IPv4 host.
  ...embeddedIpv4Rules(96, (ipv4) => `::ffff:${ipv4}`),
  rule(null, 'ipv6', ['::ffff:0:0', 96]),
  ...embeddedIpv4Rules(96, (ipv4) => `::${ipv4}`),
  rule('IPv4-compatible address', 'ipv6', ['::', 96]),
  // 64:ff9b::/96 NAT64 carries an IPv4 host; the rest of 64:ff9b::/32 is local-use NAT64.
  ...embeddedIpv4Rules(96, (ipv4) => `64:ff9b::${ipv4}`),
  rule(null, 'ipv6', ['64:ff9b::', 96]),
  rule('local-use NAT64 address', 'ipv6', ['64:ff9b::', 32]),
  // 6to4 carries a public IPv4 host unless the embedded one is refused.
  ...embeddedIpv4Rules(16, sixToFour),
  rule(null, 'ipv6', ['2002::', 16]),
  rule('Teredo tunnel address', 'ipv6', ['2001::', 32]),
  rule('documentation address', 'ipv6', ['2001:db8::', 32]),
  rule('discard-only address', 'ipv6', ['100::', 64]),
  rule('unique local (private) address', 'ipv6', ['fc00::', 7]),
  rule('link-local address', 'ipv6', ['fe80::', 10]),
  rule('site-local address', 'ipv6', ['fec0::', 10]),
  rule('multicast address', 'ipv6', ['ff00::', 8]),
  // Only global unicast is public; anything else falls through to "reserved".
  rule(null, 'ipv6', ['2000::', 3]),
]
