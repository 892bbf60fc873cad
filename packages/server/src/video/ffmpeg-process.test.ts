import { describe, expect, it } from 'vitest'
import { ffmpegTools, lastReason, runLimited } from './ffmpeg-process.js'

const limits = { timeoutMs: 5000, maxOutputBytes: 1024 * 1024, maxMemoryBytes: 512 * 1024 * 1024 }

describe('runLimited', () => {
  it('collects what the child writes', async () => {
    const result = await runLimited('printf', ['hello'], limits)
    expect(result).toEqual({ kind: 'exited', stdout: Buffer.from('hello'), stderr: '' })
  })

  it('kills a child that runs past its time limit', async () => {
    const started = Date.now()
    const result = await runLimited('sleep', ['30'], { ...limits, timeoutMs: 200 })
    expect(result).toMatchObject({ kind: 'failed', failure: 'timeout' })
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('kills a child that writes more than its output limit', async () => {
    const result = await runLimited('yes', [], { ...limits, maxOutputBytes: 64 * 1024 })
    expect(result).toMatchObject({ kind: 'failed', failure: 'output' })
  })

  it('stops when the client goes away', async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    expect(await runLimited('sleep', ['30'], { ...limits, signal: controller.signal })).toMatchObject({ kind: 'failed', failure: 'aborted' })
  })

  it('says when the program is not installed', async () => {
    expect(await runLimited('/nonexistent/visto-ffmpeg', ['-version'], limits)).toMatchObject({ kind: 'failed', failure: 'missing' })
  })

  it.runIf(process.platform === 'linux')("caps the child's address space, and says an allocation failed", async () => {
    // dd allocates its whole block at once: 128 MiB does not fit in 64 MiB, 1 MiB does.
    const capped = { ...limits, maxMemoryBytes: 64 * 1024 * 1024 }
    expect(await runLimited('dd', ['if=/dev/zero', 'bs=128M', 'count=1', 'of=/dev/null'], capped)).toMatchObject({ kind: 'failed', failure: 'memory' })
    expect(await runLimited('dd', ['if=/dev/zero', 'bs=1M', 'count=1', 'of=/dev/null'], capped)).toMatchObject({ kind: 'exited' })
  })
})

describe('ffmpegTools', () => {
  it('finds ffprobe next to the ffmpeg it is pointed at, or both on PATH', () => {
    expect(ffmpegTools(undefined)).toEqual({ ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' })
    expect(ffmpegTools('/opt/ffmpeg-7/bin/ffmpeg')).toEqual({ ffmpeg: '/opt/ffmpeg-7/bin/ffmpeg', ffprobe: '/opt/ffmpeg-7/bin/ffprobe' })
  })
})

describe('lastReason', () => {
  it("keeps ffmpeg's last line, without the demuxer address or our temporary path", () => {
    expect(lastReason('[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c8a1b2c0] moov atom not found\n/tmp/visto-video-Ab12/3f2a.video: Invalid data found when processing input\n')).toBe(
      'the video: Invalid data found when processing input',
    )
  })
})
