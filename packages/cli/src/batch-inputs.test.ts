import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveInputs } from './batch-inputs.js'
import { CliError } from './cli-error.js'

describe('resolveInputs with a quoted glob', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'visto-cli-glob-'))
    const files = ['a.png', 'axb', 'a.b', 'img-01.jpg', 'img-1.jpg', 'b1.gif', 'c1.gif', 'dir/a.png', 'x/y/a.png', 'a.gif', '.hidden/a.png']
    for (const file of files) {
      await mkdir(dirname(join(dir, file)), { recursive: true })
      await writeFile(join(dir, file), 'x')
    }
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const matches = async (pattern: string) => (await resolveInputs([pattern], { cwd: dir })).map((input) => input.file)

  it.each([
    ['*.png', ['a.png']],
    ['**/*.png', ['a.png', 'dir/a.png', 'x/y/a.png']],
    ['img-??.jpg', ['img-01.jpg']],
    ['*.{jpg,png}', ['a.png', 'img-01.jpg', 'img-1.jpg']],
    ['[ab]*.gif', ['a.gif', 'b1.gif']],
    ['[!ab]*.gif', ['c1.gif']],
    ['a.?', ['a.b']],
    ['*/a.png', ['dir/a.png']],
  ])('%s matches %j, skipping hidden folders', async (pattern, expected) => {
    expect(await matches(pattern)).toEqual(expected)
  })

  it('returns absolute paths for an absolute pattern', async () => {
    const inputs = await resolveInputs([join(dir, 'x', '*', '*.png')], { cwd: tmpdir() })
    expect(inputs.map((input) => input.path)).toEqual([join(dir, 'x', 'y', 'a.png')])
  })

  it('is a usage error when nothing matches, naming the pattern', async () => {
    const error = await resolveInputs(['*.webp'], { cwd: dir }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CliError)
    expect((error as Error).message).toBe('no files match *.webp')
  })
})

describe('resolveInputs with videos', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'visto-cli-videos-'))
    await writeFile(join(dir, 'a.png'), 'x')
    await writeFile(join(dir, 'clip.mp4'), 'x')
    await writeFile(join(dir, 'clip.webm'), 'x')
    await writeFile(join(dir, 'notes.txt'), 'x')
    // A clip without a video extension is still recognised by its bytes (an EBML header).
    await writeFile(join(dir, 'recording'), Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81]))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('takes the video files of a directory, and a clip named without an extension', async () => {
    expect((await resolveInputs([dir], { cwd: dir })).map((input) => input.file)).toEqual(['a.png', 'clip.mp4', 'clip.webm'])
    expect((await resolveInputs([join(dir, 'recording')], { cwd: dir })).map((input) => input.file)).toEqual(['recording'])
  })
})
