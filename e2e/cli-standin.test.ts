import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { readGgufMetadata } from '@visto/testkit/gguf/reader'
import { metadataValue } from '@visto/testkit/gguf/values'
import { runCli } from '../test-support/run-cli.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'visto-cli-standin-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('visto standin', () => {
  it('writes the tiny pair with the chosen quantisation and seed, paths on stdout and progress on stderr', async () => {
    const out = join(dir, 'tiny')
    const run = await runCli(['standin', '--preset', 'tiny', '--out', out, '--quant', 'q8_0', '--mmproj-quant', 'q8_0', '--seed', '5'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe(`${join(out, 'model.gguf')}\n${join(out, 'mmproj.gguf')}\n`)
    expect(run.stderr).toMatch(/100\.0% .*model\.gguf/)
    expect(run.stderr).toMatch(/Wrote [\d.]+ (KiB|MiB) \+ [\d.]+ (KiB|MiB) in [\d.]+s/)
    const model = await readGgufMetadata(join(out, 'model.gguf'))
    expect(metadataValue(model.metadata, 'general.file_type')).toEqual({ type: 'uint32', value: 7 })
    expect(metadataValue(model.metadata, 'visto.standin.seed')).toEqual({ type: 'uint32', value: 5 })
    const mmproj = await readGgufMetadata(join(out, 'mmproj.gguf'))
    expect(metadataValue(mmproj.metadata, 'general.file_type')).toEqual({ type: 'uint32', value: 7 })
    expect((await stat(join(out, 'model.gguf'))).size).toBeLessThan(1_000_000)
  })

  it.each([
    [['--preset', 'huge', '--out', 'x'], '--preset must be tiny, qwen3-vl-4b; got "huge"'],
    [['--out', 'x'], '--preset is required (tiny or qwen3-vl-4b)'],
    [['--preset', 'tiny'], '--out DIR is required'],
    [['--preset', 'tiny', '--out', 'x', '--quant', 'q5_k'], '--quant must be q4_0, q8_0, f16; got "q5_k"'],
    [['--preset', 'tiny', '--out', 'x', '--mmproj-quant', 'q4_0'], '--mmproj-quant must be f16, q8_0; got "q4_0"'],
    [['--preset', 'tiny', '--out', 'x', '--seed', '1.5'], '--seed must be an integer from 0 to 4294967295'],
    [['--preset', 'tiny', '--out', 'x', '--bogus'], "Unknown option '--bogus'"],
  ])('rejects %j with exit code 2', async (args, message) => {
    const run = await runCli(['standin', ...args], { cwd: dir })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(`visto standin: ${message}`)
    expect(run.stdout).toBe('')
  })
})
