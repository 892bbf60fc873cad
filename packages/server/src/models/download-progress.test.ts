import { Writable } from 'node:stream'

import { describe, expect, it } from 'vitest'

import { createProgressPrinter, formatProgressLine, type DownloadProgress } from './download-progress.js'

function capture(isTTY: boolean): { stream: Writable & { isTTY: boolean; columns: number }; text: () => string } {
  let text = ''
  const stream = Object.assign(
    new Writable({
      write(chunk, _encoding, callback) {
        text += String(chunk)
        callback()
      },
    }),
    { isTTY, columns: 100 },
  )
  return { stream, text: () => text }
}

const progress = (downloaded: number, phase: DownloadProgress['phase'] = 'downloading'): DownloadProgress => ({
  file: 'model.gguf',
  downloaded,
  total: 2_500_000_000,
  resumedFrom: 0,
  bytesPerSecond: 12_300_000,
  etaSeconds: (2_500_000_000 - downloaded) / 12_300_000,
  phase,
})

describe('download progress output', () => {
  it('formats percentage, sizes, speed and ETA', () => {
    expect(formatProgressLine(progress(1_130_000_000), 10)).toBe('[#####-----]  Downloading   45.2%  1.1 GiB/2.3 GiB  11.7 MiB/s  ETA 1m51s  model.gguf')
  })

  it('redraws one line on a terminal and ends it when done', () => {
    const out = capture(true)
    const print = createProgressPrinter({ stream: out.stream })
    print(progress(1_000_000_000))
    print(progress(2_000_000_000))
    print(progress(2_500_000_000, 'done'))
    const text = out.text()
    expect(text.split('\r\x1b[K')).toHaveLength(4)
    expect(text.endsWith('Downloaded  100.0%  2.3 GiB/2.3 GiB  model.gguf\n')).toBe(true)
    expect(text.match(/\n/g)).toHaveLength(1)
  })

  it('prints plain lines at most every few seconds when not a terminal', () => {
    const out = capture(false)
    let now = 0
    const print = createProgressPrinter({ stream: out.stream, plainIntervalSeconds: 5, now: () => now })
    print(progress(100_000_000))
    now = 1_000
    print(progress(200_000_000))
    now = 6_000
    print(progress(300_000_000))
    print(progress(2_500_000_000, 'done'))
    const lines = out.text().trimEnd().split('\n')
    expect(lines).toHaveLength(3)
    expect(lines.every((line) => !line.includes('\r'))).toBe(true)
    expect(lines[1]).toContain('12.0%')
    expect(lines[2]).toContain('Downloaded  100.0%')
  })

  it('announces once that it waits for another process', () => {
    const out = capture(false)
    const print = createProgressPrinter({ stream: out.stream })
    print(progress(0, 'waiting'))
    print(progress(0, 'waiting'))
    expect(out.text()).toBe('Waiting for another Visto process that is downloading model.gguf…\n')
  })
})
