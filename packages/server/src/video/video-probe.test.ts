import { describe, expect, it } from 'vitest'
import { notAVideo, sniffVideoContainer } from './video-container.js'
import { parseLastPacket, parseProbe } from './video-probe.js'

const probe = (stream: Record<string, unknown> | undefined, format: Record<string, unknown> = { format_name: 'mov,mp4,m4a,3gp,3g2,mj2', duration: '3.000000' }) =>
  parseProbe(JSON.stringify({ streams: stream ? [stream] : [], format }))

describe('parseProbe', () => {
  it("reads codec, size and duration, the stream's duration first", () => {
    expect(probe({ codec_name: 'h264', width: 160, height: 120, duration: '2.900000', sample_aspect_ratio: '1:1' })).toEqual({
      kind: 'video',
      video: { container: 'mov,mp4,m4a,3gp,3g2,mj2', codec: 'h264', codedWidth: 160, codedHeight: 120, width: 160, height: 120, durationSeconds: 2.9, declaredSeconds: 3 },
    })
  })

  it('swaps the sides of a quarter-turned (phone) video and stretches non-square pixels', () => {
    const rotated = probe({ codec_name: 'h264', width: 1920, height: 1080, side_data_list: [{ rotation: -90 }] })
    expect(rotated).toMatchObject({ video: { width: 1080, height: 1920, codedWidth: 1920 } })
    expect(probe({ codec_name: 'h264', width: 720, height: 576, sample_aspect_ratio: '16:11' })).toMatchObject({ video: { width: 1047, height: 576 } })
    expect(probe({ codec_name: 'h264', width: 640, height: 480, tags: { rotate: '270' } })).toMatchObject({ video: { width: 480, height: 640 } })
  })

  it("takes the container's duration, or none, when the stream declares none", () => {
    expect(probe({ codec_name: 'vp9', width: 64, height: 64 }, { format_name: 'matroska,webm', duration: '4.5' })).toMatchObject({ video: { durationSeconds: 4.5 } })
    expect(probe({ codec_name: 'vp9', width: 64, height: 64 }, { format_name: 'matroska,webm' })).toMatchObject({
      video: { durationSeconds: undefined, declaredSeconds: undefined },
    })
  })

  it('keeps the longest declared duration for the limit', () => {
    expect(probe({ codec_name: 'h264', width: 64, height: 64, duration: '3' }, { duration: '4294967040' })).toMatchObject({
      video: { durationSeconds: 3, declaredSeconds: 4294967040 },
    })
  })

  it('says when there is no video stream or no usable size', () => {
    expect(probe(undefined, { format_name: 'mov,mp4,m4a,3gp,3g2,mj2' })).toEqual({ kind: 'no-video-stream', container: 'mov,mp4,m4a,3gp,3g2,mj2' })
    expect(probe({ codec_name: 'h264', width: 0, height: 0 })).toEqual({ kind: 'unreadable', reason: 'the video stream declares no frame size' })
    expect(parseProbe('not json')).toEqual({ kind: 'unreadable', reason: 'ffprobe gave no readable answer' })
  })
})

describe('parseLastPacket', () => {
  it('is the end of the latest packet, skipping N/A', () => {
    expect(parseLastPacket('0.000000,0.033000\n2.966000,0.033000\nN/A,N/A\n1.5,0.033\n')).toBeCloseTo(2.999, 9)
    expect(parseLastPacket('')).toBeUndefined()
  })
})

describe('sniffVideoContainer', () => {
  const ftyp = (brand: string) => Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from(`ftyp${brand}\0\0\0\0isomiso2`)])
  it('knows MP4, MOV and Matroska/WebM by their bytes', () => {
    expect(sniffVideoContainer(ftyp('isom'))).toBe('mp4')
    expect(sniffVideoContainer(ftyp('qt  '))).toBe('quicktime')
    expect(sniffVideoContainer(Buffer.from([0, 0, 0, 8, ...Buffer.from('wide'), 0, 0]))).toBe('quicktime')
    expect(sniffVideoContainer(Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81]))).toBe('matroska')
  })

  it('refuses images, AVIF/HEIC included, and says what they are', () => {
    expect(sniffVideoContainer(ftyp('avif'))).toBeNull()
    expect(sniffVideoContainer(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBeNull()
    expect(notAVideo(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('unsupported video format: JPEG (send images as image_url parts); send MP4, MOV or WebM')
    expect(notAVideo(Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'))).toBe(
      'GIF is read as an image (its first frame): send it as an image_url part, or convert the animation to MP4 or WebM',
    )
    expect(notAVideo(Buffer.from([0x00, 0x9c, 0xfe, 0x01, 0x80]))).toBe('unsupported video format: unrecognised data (only 5 bytes); send MP4, MOV or WebM')
    expect(notAVideo(Buffer.from('hello'))).toBe('unsupported video format: plain text; send MP4, MOV or WebM')
  })
})
