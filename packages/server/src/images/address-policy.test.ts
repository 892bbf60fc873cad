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

  it.each(['93.184.216.34', '8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '2a00:1450:4001:82a::200e', '::ffff:8.8.8.8', '2002:0808:0808::'])(
    'allows public %s',
    (address) => {
      expect(blockedReason(address)).toBeNull()
    },
  )

  it('says why an address is refused', () => {
    expect(blockedReason('169.254.169.254')).toBe('link-local address (cloud metadata lives here)')
    expect(blockedReason('::ffff:127.0.0.1')).toBe('loopback address (embedded in IPv6)')
  })
})
