import { describe, expect, it } from 'vitest'
import { qwen3VlGeometry } from '../engines/vision-geometry.js'
import { planFrames, sampledFrameCount, timestampLabel } from './frame-plan.js'
import { videoFrameRules } from './videos.js'

const rules = videoFrameRules(2048)
const auto = { fps: undefined, maxFrames: undefined, detail: 'auto' as const }

describe('timestampLabel', () => {
  it("writes Qwen3-VL's <{t:.1f} seconds>, rounding exact ties to even as Python does", () => {
    // Python: f"<{0.25:.1f} seconds>" is "<0.2 seconds>", 0.75 → 0.8, 1.25 → 1.2, 2.5 stays.
    expect([0, 0.25, 0.75, 1.25, 1.75, 2.5, 0.05, 0.15, 12.349, 599.75].map(timestampLabel)).toEqual([
      '<0.0 seconds>',
      '<0.2 seconds>',
      '<0.8 seconds>',
      '<1.2 seconds>',
      '<1.8 seconds>',
      '<2.5 seconds>',
      '<0.1 seconds>',
      '<0.1 seconds>',
      '<12.3 seconds>',
      '<599.8 seconds>',
    ])
  })
})

describe('sampledFrameCount', () => {
  it('samples 2 frames a second by default, at least 4, at most max_frames and 768', () => {
    expect(sampledFrameCount(10, auto, rules)).toBe(20)
    expect(sampledFrameCount(0.4, auto, rules)).toBe(4)
    expect(sampledFrameCount(10, { ...auto, fps: 0.5 }, rules)).toBe(5)
    expect(sampledFrameCount(10, { ...auto, maxFrames: 8 }, rules)).toBe(8)
    expect(sampledFrameCount(3600, { ...auto, fps: 60 }, rules)).toBe(768)
  })
})

describe('planFrames', () => {
  it('spaces frames evenly from the start and stamps each pair with its mean time', () => {
    const plan = planFrames({ durationSeconds: 3, width: 160, height: 120 }, auto, rules, qwen3VlGeometry)
    expect(plan.frameTimes).toEqual([0, 0.5, 1, 1.5, 2, 2.5])
    expect(plan.sampleRate).toBe(2)
    expect(plan.pairs.map((pair) => [pair.first, pair.second, pair.seconds, pair.label])).toEqual([
      [0, 1, 0.25, '<0.2 seconds>'],
      [2, 3, 1.25, '<1.2 seconds>'],
      [4, 5, 2.25, '<2.2 seconds>'],
    ])
    // Small enough to keep its own size, aligned to 32 px: (160/32)·(128/32) = 20 tokens a pair.
    expect([plan.width, plan.height, plan.tokensPerImage, plan.imageTokens, plan.markerTokens]).toEqual([160, 128, 20, 60, 6])
  })

  it('pairs an odd last frame with itself, as Qwen pads with the last frame', () => {
    const plan = planFrames({ durationSeconds: 2.5, width: 320, height: 240 }, auto, rules, qwen3VlGeometry)
    expect(plan.frameTimes).toEqual([0, 0.5, 1, 1.5, 2])
    expect(plan.pairs.at(-1)).toEqual({ first: 4, second: 4, seconds: 2, label: '<2.0 seconds>' })
  })

  it("caps a short clip's frames at the detail level's size", () => {
    const hd = { durationSeconds: 4, width: 1920, height: 1080 }
    const sizes = (['low', 'auto', 'high'] as const).map((detail) => {
      const plan = planFrames(hd, { ...auto, detail }, rules, qwen3VlGeometry)
      return [plan.width, plan.height, plan.tokensPerImage, plan.pairs.length]
    })
    // 8 frames, 4 pairs: low ≤ 256² px, auto ≤ 448², high ≤ 768² but also ≤ 2048/4 = 512 tokens.
    expect(sizes).toEqual([
      [320, 192, 60, 4],
      [576, 320, 180, 4],
      [960, 512, 480, 4],
    ])
  })

  it('shrinks frames to share the token budget, then takes fewer frames rather than going below the smallest size', () => {
    const thirty = planFrames({ durationSeconds: 30, width: 1280, height: 720 }, auto, rules, qwen3VlGeometry)
    expect(thirty.frameTimes.length).toBe(60)
    expect(thirty.imageTokens).toBeLessThanOrEqual(2048)
    // 30 pairs share 2048 tokens: at most 68 each, so 320x192 (60) keeps 16:9 on the 32 px grid.
    expect([thirty.width, thirty.height, thirty.tokensPerImage]).toEqual([320, 192, 60])
    const fiveMinutes = planFrames({ durationSeconds: 300, width: 1920, height: 1080 }, auto, rules, qwen3VlGeometry)
    // 600 frames at 2 fps would be 300 pairs; 2048 tokens afford 32 pairs of 64 tokens.
    expect(fiveMinutes.frameTimes.length).toBe(64)
    expect(fiveMinutes.frameTimes[1]).toBeCloseTo(300 / 64, 9)
    expect(fiveMinutes.imageTokens).toBeLessThanOrEqual(2048)
    expect([fiveMinutes.width, fiveMinutes.height, fiveMinutes.tokensPerImage]).toEqual([320, 192, 60])
  })

  it('never plans fewer than 4 frames, however small the budget', () => {
    const plan = planFrames({ durationSeconds: 600, width: 640, height: 480 }, auto, videoFrameRules(128), qwen3VlGeometry)
    expect(plan.frameTimes.length).toBe(4)
    expect(plan.imageTokens).toBeLessThanOrEqual(128)
  })

  it('keeps a portrait (rotated) clip portrait', () => {
    const plan = planFrames({ durationSeconds: 2, width: 1080, height: 1920 }, auto, rules, qwen3VlGeometry)
    expect(plan.height).toBeGreaterThan(plan.width)
  })

  it('refuses a size or duration it cannot plan', () => {
    expect(() => planFrames({ durationSeconds: 0, width: 10, height: 10 }, auto, rules, qwen3VlGeometry)).toThrow('a video needs a positive duration, got 0')
    expect(() => planFrames({ durationSeconds: 1, width: 0, height: 10 }, auto, rules, qwen3VlGeometry)).toThrow('a video needs a positive size, got 0x10')
  })
})
