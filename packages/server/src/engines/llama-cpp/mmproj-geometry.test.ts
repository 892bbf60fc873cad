import { mkdtempSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeGguf } from '@visto/testkit/gguf/writer'
import { gguf } from '@visto/testkit/gguf/values'
import { describe, expect, it } from 'vitest'
import { ensureTinyStandin, writeTinyMmproj } from '../../../../../test-support/standin.js'
import { qwen3VlGeometry } from '../vision-geometry.js'
import { readMmprojGeometry } from './mmproj-geometry.js'

const scratch = () => mkdtempSync(join(tmpdir(), 'visto-mmproj-geometry-'))

describe('readMmprojGeometry', () => {
  it("reads the tiny stand-in's patch 16 and spatial merge 2", async () => {
    const { mmproj } = await ensureTinyStandin()
    expect(await readMmprojGeometry(mmproj)).toEqual({ patchSize: 16, spatialMerge: 2, minImageTokens: 8, frameTokens: 2 })
  })

  it('reads another patch size and merge from the file (patch 14 as Qwen2.5-VL, merge 3)', async () => {
    const path = await writeTinyMmproj(join(scratch(), 'mmproj-14.gguf'), { patchSize: 14, spatialMerge: 3 })
    expect(await readMmprojGeometry(path)).toEqual({ patchSize: 14, spatialMerge: 3, minImageTokens: 8, frameTokens: 2 })
  })

  it("falls back to Qwen3-VL's values for what the file does not say", async () => {
    const path = join(scratch(), 'bare.gguf')
    await writeGguf(
      path,
      [
        ['general.architecture', gguf.str('clip')],
        ['clip.vision.patch_size', gguf.u32(14)],
      ],
      [],
    )
    expect(await readMmprojGeometry(path)).toEqual({ ...qwen3VlGeometry, patchSize: 14 })
  })

  it('refuses a file that is not GGUF, or ends inside its metadata, naming the file', async () => {
    const dir = scratch()
    const text = join(dir, 'mmproj.gguf')
    writeFileSync(text, 'not a model at all')
    await expect(readMmprojGeometry(text)).rejects.toThrow(`${text}: not a GGUF file (no GGUF magic)`)
    const { mmproj } = await ensureTinyStandin()
    const truncated = join(dir, 'truncated.gguf')
    writeFileSync(truncated, (await readFile(mmproj)).subarray(0, 200))
    await expect(readMmprojGeometry(truncated)).rejects.toThrow(`${truncated}: the file ends inside its metadata`)
  })
})
