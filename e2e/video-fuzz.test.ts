import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isAllowedVideoStatus, videoFuzzCase } from '@visto/testkit/videos/video-fuzz'
import { ffmpegAvailable, noFfmpegReason, videoFuzzSeeds } from '@visto/testkit/videos/test-clips'
import { ScriptedEngine } from '../test-support/scripted-engine.js'
import { composeServer } from '../packages/server/src/compose.js'
import { serveConfig } from '../packages/server/src/config.js'
import { closeApp } from '../test-support/close-app.js'

// A bounded run for every `npm test`; scripts/fuzz-images.js --http runs as many as you like.
const cases = Number(process.env.VISTO_VIDEO_FUZZ_CASES ?? 48)
const seed = 20261202

let app: FastifyInstance
let seeds: Awaited<ReturnType<typeof videoFuzzSeeds>>

if (!ffmpegAvailable) console.warn(`[video fuzz skipped] ${noFfmpegReason}`)

beforeAll(async () => {
  if (!ffmpegAvailable) return
  seeds = await videoFuzzSeeds()
  app = (await composeServer(serveConfig({ 'video-timeout-seconds': 20 }), { engine: new ScriptedEngine() })).app
})
afterAll(async () => {
  await closeApp(app)
})

describe.skipIf(!ffmpegAvailable)('video fuzz over HTTP', () => {
  it(`answers ${cases} truncated, corrupted, lying and mislabelled clips with 200, 400 or 413 in the error envelope, and stays healthy`, async () => {
    const statuses = new Map<number, number>()
    for (let index = 0; index < cases; index++) {
      const testCase = videoFuzzCase(seeds, index, seed)
      const response = await app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: {
          messages: [
            {
              role: 'user',
              content: [
                { type: 'video_url', video_url: { url: testCase.url } },
                { type: 'text', text: 'What happens?' },
              ],
            },
          ],
          max_tokens: 4,
        },
      })
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
      expect(isAllowedVideoStatus(response.statusCode), `case ${index} (${testCase.label}): HTTP ${response.statusCode} ${response.body.slice(0, 300)}`).toBe(true)
      if (response.statusCode !== 200) {
        const error = response.json().error
        expect(typeof error.message === 'string' && typeof error.code === 'string', `case ${index} (${testCase.label}): ${response.body.slice(0, 300)}`).toBe(true)
      }
    }
    // Both kinds happen: the mutations are not all fatal, nor all harmless.
    expect(statuses.get(200)).toBeGreaterThan(0)
    expect(statuses.get(400)).toBeGreaterThan(0)
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200)
  }, 240_000)
})
