import { describe, expect, it } from 'vitest'
import { blockedReason, isPublicAddress } from './address-policy.js'

describe('remote image address policy', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '0.0.0.0',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '100.64.0.1',
    '100.100.100.200',
    '169.254.169.254',
    '224.0.0.1',
    '239.255.255.250',
    '255.255.255.255',
    '198.18.0.1',
    '::',
    '::1',
    '[::1]',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '::ffff:10.0.0.1',
    '::127.0.0.1',
    '64:ff9b::10.0.0.1',
    '2002:7f00:0001::',
    '2001:0::1',
    'fc00::1',
    'fd00:ec2::254',
    'fe80::1',
    'fe80::1%eth0',
    'fec0::1',
    'ff02::1',
    '2001:db8::1',
    'not-an-ip',
  ])('refuses %s', (address) => {
    expect(isPublicAddress(address)).toBe(false)
  })

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001:82a::200e',
    '::ffff:8.8.8.8',
    '2002:0808:0808::',
    '64:ff9b::8.8.8.8',
    '[2606:4700::1111]',
  ])('allows public %s', (address) => {
    expect(blockedReason(address)).toBeNull()
  })

  it.each([
    ['0.1.2.3', '"this network" address'],
    ['10.255.255.255', 'private address'],
    ['100.127.255.255', 'carrier-grade NAT address'],
    ['127.0.0.1', 'loopback address'],
    ['172.31.0.1', 'private address'],
    ['192.0.0.8', 'IETF protocol assignment'],
    ['192.0.2.1', 'documentation address'],
    ['192.88.99.1', '6to4 relay address'],
    ['198.19.255.255', 'benchmarking address'],
    ['203.0.113.7', 'documentation address'],
    ['239.255.255.250', 'multicast address'],
    ['240.0.0.1', 'reserved address'],
    ['::', 'unspecified address'],
    ['[::1]', 'loopback address'],
    ['::ffff:a9fe:a9fe', 'link-local address (cloud metadata lives here) (embedded in IPv6)'],
    ['::10.0.0.1', 'private address (embedded in IPv6)'],
    ['::8.8.8.8', 'IPv4-compatible address'],
    ['64:ff9b::192.168.0.1', 'private address (embedded in IPv6)'],
    ['64:ff9b:1::8.8.8.8', 'local-use NAT64 address'],
    ['2002:a9fe:a9fe::1', 'link-local address (cloud metadata lives here) (embedded in IPv6)'],
    ['2001:0:4136:e378::1', 'Teredo tunnel address'],
    ['2001:db8:85a3::8a2e:370:7334', 'documentation address'],
    ['100::1', 'discard-only address'],
    ['fd00:ec2::254', 'unique local (private) address'],
    ['febf::1', 'link-local address'],
    ['fec0::1', 'site-local address'],
    ['ff02::1', 'multicast address'],
    ['4000::1', 'reserved address'],
    ['fe80::1%eth0', 'scoped IPv6 address'],
    ['example.com', 'not an IP address'],
  ])('refuses %s as a %s', (address, reason) => {
    expect(blockedReason(address)).toBe(reason)
  })

  it('says why an address is refused', () => {
    expect(blockedReason('169.254.169.254')).toBe('link-local address (cloud metadata lives here)')
    expect(blockedReason('::ffff:127.0.0.1')).toBe('loopback address (embedded in IPv6)')
  })
})
