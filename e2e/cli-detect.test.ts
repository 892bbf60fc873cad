import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import * as fixtures from '@visto/testkit/images/test-images'
import { textPdf } from '../test-support/pdfs.js'
import { ok, startScriptedServer, type ScriptedServer } from '../test-support/scripted-server.js'
import { runCli } from '../test-support/run-cli.js'
import { LABEL_COLOURS } from '../packages/cli/src/annotate.js'
import { groundingPrompt } from '../packages/cli/src/detections.js'
import { loadSharp, SHARP_MISSING, tryLoadSharp } from '../packages/cli/src/sharp.js'

const answer = '```json\n[\n  {"bbox_2d": [100, 250, 500, 750], "label": "cat", "color": "ginger"},\n  {"point_2d": [500, 500], "label": "nose"}\n]\n```'

/** What `answer` means on the rotated photo below: it is shown 400 wide and 800 tall. */
const expectedDetections = [
  { label: 'cat', kind: 'box', box: { x1: 40, y1: 200, x2: 200, y2: 600 }, attributes: { color: 'ginger' } },
  { label: 'nose', kind: 'point', point: { x: 200, y: 400 } },
]

let server: ScriptedServer
let dir: string
let photo: string
beforeEach(async () => {
  server = await startScriptedServer()
  dir = await mkdtemp(join(tmpdir(), 'visto-cli-detect-'))
  photo = join(dir, 'photo.jpg')
  // Stored 800×400, red left half and blue right half, EXIF orientation 6 (turn 90° clockwise to view):
  // shown 400×800 with red on top.
  await writeFile(photo, await fixtures.jpeg(800, 400, { orientation: 6 }))
})
afterEach(async () => {
  await server.close()
  await rm(dir, { recursive: true, force: true })
})

function hex(colour: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16)) as [number, number, number]
}

async function pixels(path: string) {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  const at = (x: number, y: number): [number, number, number] => {
    const i = (y * info.width + x) * 3
    return [data[i]!, data[i + 1]!, data[i + 2]!]
  }
  return { info, at }
}

function distance(a: readonly number[], b: readonly number[]): number {
  return Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!)
}

const red = [fixtures.red.r, fixtures.red.g, fixtures.red.b]
const blue = [fixtures.blue.r, fixtures.blue.g, fixtures.blue.b]

describe('visto detect', () => {
  it('asks with the grounding prompt and prints boxes and points in pixels of the upright, original-size image (EXIF 6)', async () => {
    server.script(ok(answer))
    const run = await runCli(['detect', photo, '-q', 'cat', '--base-url', server.url])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const printed = JSON.parse(run.stdout)
    expect(printed).toEqual({ image: photo, width: 400, height: 800, detections: expectedDetections, answer, finish_reason: 'stop', usage: expect.any(Object) })
    const body = server.requests[0]!.json!
    expect(body.max_tokens).toBe(2048)
    expect(body.messages[0]!.content).toEqual([
      { type: 'text', text: 'Locate every instance that belongs to the following categories: "cat". Report bbox coordinates in JSON format.' },
      { type: 'image_url', image_url: { url: expect.stringMatching(/^data:image\/jpeg;base64,/) } },
    ])
  })

  it('asks for points with --points, prints one line with --json and says when the answer holds nothing', async () => {
    server.script(ok('I cannot see any cat.'))
    const run = await runCli(['detect', photo, '-q', 'cat', '--points', '--json', '--base-url', server.url])
    expect(run.code).toBe(0)
    expect(run.stdout.trim().split('\n')).toHaveLength(1)
    expect(JSON.parse(run.stdout)).toMatchObject({ width: 400, height: 800, detections: [] })
    expect(run.stderr).toBe('visto detect: the answer holds no boxes or points\n')
    expect((server.requests[0]!.json!.messages[0]!.content as Array<{ text?: string }>)[0]!.text).toBe(groundingPrompt('cat', 'point'))
    expect(groundingPrompt('cat', 'point')).toContain('Report point coordinates in JSON format.')
  })

  it('keeps the boxes before a cut-off and says the answer was cut', async () => {
    server.script(ok('[{"bbox_2d": [0, 0, 500, 500], "label": "a"}, {"bbox_2d": [5', { finishReason: 'length' }))
    const run = await runCli(['detect', photo, '-q', 'a', '--base-url', server.url])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout).detections).toEqual([{ label: 'a', kind: 'box', box: { x1: 0, y1: 0, x2: 200, y2: 400 } }])
    expect(run.stderr).toContain('cut off at max_tokens')
  })

  it('draws the boxes and points with --annotate onto the upright image at its original size', async () => {
    server.script(ok(answer))
    const out = join(dir, 'annotated.png')
    const run = await runCli(['detect', photo, '-q', 'cat', '--annotate', out, '--base-url', server.url])
    expect(run.code).toBe(0)
    expect(run.stderr).toBe(`visto detect: wrote ${out} (400×800, 1 box, 1 point)\n`)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    const { info, at } = await pixels(out)
    expect([info.width, info.height]).toEqual([400, 800])
    const [boxColour, pointColour] = [hex(LABEL_COLOURS[0]), hex(LABEL_COLOURS[1])]
    // The box's four edges, away from the label band at its top-left corner.
    for (const [x, y] of [
      [120, 200],
      [120, 600],
      [40, 400],
      [200, 300],
    ] as const)
      expect(distance(at(x, y), boxColour), `(${x}, ${y})`).toBeLessThan(40)
    expect(distance(at(200, 400), pointColour)).toBeLessThan(40)
    // Inside and outside the box the photo is untouched, and upright: red on top, blue below.
    for (const [x, y] of [
      [120, 300],
      [300, 100],
    ] as const)
      expect(distance(at(x, y), red), `(${x}, ${y})`).toBeLessThan(40)
    for (const [x, y] of [
      [120, 500],
      [300, 700],
    ] as const)
      expect(distance(at(x, y), blue), `(${x}, ${y})`).toBeLessThan(40)
  })

  it('writes a valid JPEG with --annotate OUT.jpg, without the EXIF orientation (it is already upright)', async () => {
    server.script(ok(answer))
    const out = join(dir, 'annotated.jpg')
    const run = await runCli(['detect', photo, '-q', 'cat', '--annotate', out, '--base-url', server.url])
    expect(run.code).toBe(0)
    const meta = await sharp(await readFile(out)).metadata()
    expect([meta.format, meta.width, meta.height, meta.orientation]).toEqual(['jpeg', 400, 800, undefined])
    const { at } = await pixels(out)
    // JPEG blurs a thin line, but its middle is still the box's colour far more than the photo's.
    expect(distance(at(120, 200), hex(LABEL_COLOURS[0]))).toBeLessThan(distance(at(120, 200), red) / 2)
    expect(distance(at(120, 300), red)).toBeLessThan(40)
  })

  it('refuses bad usage before asking anything', async () => {
    const pdf = join(dir, 'doc.pdf')
    await writeFile(pdf, await textPdf(1))
    const cases: Array<[string[], number, string]> = [
      [['detect', photo], 2, 'visto detect: missing -q WHAT (what to find)'],
      [['detect', photo, photo, '-q', 'x'], 2, 'visto detect: visto detect takes one IMAGE, got 2; for many use `visto batch … --detect`'],
      [['detect', join(dir, 'nope.jpg'), '-q', 'x'], 2, `visto detect: no such file: ${join(dir, 'nope.jpg')}`],
      [['detect', 'https://example.com/a.jpg', '-q', 'x'], 2, 'visto detect: visto detect needs a local image file (its size is read from the file)'],
      [['detect', photo, '-q', 'x', '--annotate', join(dir, 'out.gif')], 2, `visto detect: --annotate writes .jpg, .png or .webp, got "${join(dir, 'out.gif')}"`],
      [['detect', pdf, '-q', 'x'], 2, `visto detect: ${pdf} is a PDF: detect works on images (ask about a page with \`visto ask --pages\`)`],
    ]
    for (const [args, code, message] of cases) {
      const run = await runCli([...args, '--base-url', server.url])
      expect([run.code, run.stderr.split('\n')[0]], args.join(' ')).toEqual([code, message])
    }
    expect(server.requests).toHaveLength(0)
  })
})

describe('visto batch --detect', () => {
  it('stores each item’s detections in pixels of its own image, named by the grounding prompt, and resumes', async () => {
    const images = join(dir, 'images')
    await rm(photo)
    await mkdir(images)
    await writeFile(join(images, 'rotated.jpg'), await fixtures.jpeg(800, 400, { orientation: 6 }))
    await writeFile(join(images, 'wide.png'), await fixtures.png(300, 100))
    await writeFile(join(images, 'doc.pdf'), await textPdf(1))
    server.fallback = ok('{"bbox_2d": [0, 0, 500, 500], "label": "quarter"}')
    const output = join(dir, 'results.jsonl')
    const args = ['batch', images, '-q', 'quarter', '--detect', '-o', output, '-c', '1', '--base-url', server.url]
    const run = await runCli(args, { cwd: dir })
    expect(run.code).toBe(0)
    const records = (await readFile(output, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    const byFile = Object.fromEntries(records.map((r) => [r.file, r]))
    const prompt = groundingPrompt('quarter')
    expect(byFile['images/rotated.jpg']).toMatchObject({ ok: true, question: prompt, detections: [{ label: 'quarter', kind: 'box', box: { x1: 0, y1: 0, x2: 200, y2: 400 } }] })
    expect(byFile['images/wide.png']).toMatchObject({ ok: true, question: prompt, detections: [{ label: 'quarter', kind: 'box', box: { x1: 0, y1: 0, x2: 150, y2: 50 } }] })
    expect(byFile['images/doc.pdf']).toMatchObject({ ok: true, detections: null })
    expect(server.requests.map((r) => (r.json!.messages[0]!.content as Array<{ type: string; text?: string }>)[0]!.text)).toEqual([prompt, prompt, prompt])
    expect(server.requests.every((r) => r.json!.max_tokens === 2048)).toBe(true)

    const again = await runCli(args, { cwd: dir })
    expect(again.code).toBe(0)
    expect(server.requests).toHaveLength(3)
    const plain = await runCli(['batch', images, '-q', 'quarter', '-o', output, '--base-url', server.url], { cwd: dir })
    expect(plain.code).toBe(0)
    expect(server.requests).toHaveLength(6)
  })

  it('refuses --detect with CSV output', async () => {
    const run = await runCli(['batch', photo, '-q', 'x', '--detect', '-o', join(dir, 'out.csv'), '--base-url', server.url], { cwd: dir })
    expect([run.code, run.stderr.trim()]).toEqual([2, 'visto batch: --detect writes JSON Lines (boxes and points are lists): use -o FILE.jsonl'])
  })
})

describe('sharp, loaded only to draw', () => {
  /** What Node throws for an import of a package that is not installed. */
  const notInstalled = (name: string) => Object.assign(new Error(`Cannot find package '${name}' imported from /x/annotate.js`), { code: 'ERR_MODULE_NOT_FOUND' })

  it('says how to install it when it is missing, and loads it when it is there', async () => {
    const missing = () => Promise.reject(notInstalled('sharp'))
    await expect(loadSharp(missing)).rejects.toMatchObject({ message: SHARP_MISSING, exitCode: 1 })
    expect(SHARP_MISSING).toContain('npm install sharp')
    expect(await tryLoadSharp(missing)).toBeUndefined()
    expect(await loadSharp()).toBe(sharp)
  })

  it('does not hide a broken install behind that message', async () => {
    const broken = () => Promise.reject(notInstalled('@img/sharp-linux-x64'))
    await expect(tryLoadSharp(broken)).rejects.toThrow("'@img/sharp-linux-x64'")
  })
})
