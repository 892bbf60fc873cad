import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { apiError, delayed, json, completion, startScriptedServer, type Handler, type ScriptedServer } from '../test-support/scripted-server.js'
import { parseCsv } from '../packages/cli/src/results-file.js'
import { fixturesDir } from '../test-support/paths.js'
import { textPdf } from '../test-support/pdfs.js'
import { runCli, startCli } from '../test-support/run-cli.js'

const fixtures = fixturesDir

let server: ScriptedServer
let dir: string
beforeEach(async () => {
  server = await startScriptedServer()
  dir = await mkdtemp(join(tmpdir(), 'visto-cli-batch-'))
})
afterEach(async () => {
  await server.close()
  await rm(dir, { recursive: true, force: true })
})

/** n copies of a real PNG, named img-00.png …; returns their directory. */
async function images(n: number, sub = 'images'): Promise<string> {
  const target = join(dir, sub)
  await mkdir(target, { recursive: true })
  for (let i = 0; i < n; i++) await copyFile(join(fixtures, 'tiny.png'), join(target, `img-${String(i).padStart(2, '0')}.png`))
  return target
}

/** Answers "answer #k" in arrival order. */
function numbered(delayMs = 0): Handler {
  let k = 0
  return delayed(delayMs, (request, res) => json(200, completion(`answer #${k++}`))(request, res))
}

const readJsonl = async (path: string) =>
  (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { file: string; ok: boolean; answer: string | null; error: string | null; question: string })

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

describe('visto batch', () => {
  it('answers every image in a directory, writes one JSON line each and prints a summary', async () => {
    server.fallback = numbered()
    const input = await images(5)
    const output = join(dir, 'results.jsonl')
    const run = await runCli(['batch', input, '-q', 'Describe.', '-o', output, '--base-url', server.url], { cwd: dir })
    expect(run.code).toBe(0)
    const records = await readJsonl(output)
    expect(records.map((r) => r.file).sort()).toEqual(['images/img-00.png', 'images/img-01.png', 'images/img-02.png', 'images/img-03.png', 'images/img-04.png'])
    expect(records.every((r) => r.ok && r.question === 'Describe.' && r.answer?.startsWith('answer #'))).toBe(true)
    expect(run.stderr).toContain('visto batch summary')
    expect(run.stderr).toContain('items       5 (5 ok, 0 failed, 0 already done)')
    expect(run.stderr).toMatch(/latency {5}p50 .* · p95 .* · p99 /)
    expect(run.stderr).toContain('success rate 100.0%')
    // stderr is a pipe here: plain progress lines, no carriage-return bar.
    expect(run.stderr).toContain('visto batch: 5/5 (100%) · 0 failed')
    expect(run.stderr).not.toContain('\r')
    expect(server.maxInFlight).toBeLessThanOrEqual(3)
  })

  it('survives being killed mid-run: the re-run asks only what is missing and every item ends up exactly once', async () => {
    server.fallback = numbered(150)
    const input = await images(16)
    const output = join(dir, 'results.jsonl')
    const args = ['batch', input, '-q', 'Describe.', '-c', '2', '-o', output, '--base-url', server.url]
    const first = startCli(args, { cwd: dir })
    await waitFor(async () => (await readFile(output, 'utf8').catch(() => '')).split('\n').filter(Boolean).length >= 4)
    first.child.kill('SIGKILL')
    const killed = await first.done
    expect(killed.signal).toBe('SIGKILL')
    const afterKill = await readJsonl(output)
    expect(afterKill.length).toBeGreaterThanOrEqual(4)
    expect(afterKill.length).toBeLessThan(16)
    const requestsBefore = server.requests.length

    const second = await runCli(args, { cwd: dir })
    expect(second.code).toBe(0)
    expect(second.stderr).toContain(`resuming ${output}: ${afterKill.length} of 16 already done`)
    const records = await readJsonl(output)
    const files = records.map((r) => r.file)
    expect(files).toHaveLength(16)
    expect(new Set(files).size).toBe(16)
    expect(records.every((r) => r.ok)).toBe(true)
    // The lines written before the kill are kept untouched, in place.
    expect(records.slice(0, afterKill.length)).toEqual(afterKill)
    expect(server.requests.length - requestsBefore).toBe(16 - afterKill.length)

    const third = await runCli(args, { cwd: dir })
    expect(third.code).toBe(0)
    expect(await readJsonl(output)).toEqual(records)
    expect(server.requests.length - requestsBefore).toBe(16 - afterKill.length)
  })

  it('names files relative to the results file, so a re-run from another directory recognises them', async () => {
    server.fallback = numbered()
    await images(3)
    await mkdir(join(dir, 'out'))
    const first = await runCli(['batch', 'images', '-q', 'Describe.', '-o', 'out/results.jsonl', '--base-url', server.url], { cwd: dir })
    expect(first.code).toBe(0)
    const records = await readJsonl(join(dir, 'out', 'results.jsonl'))
    expect(records.map((r) => r.file).sort()).toEqual(['../images/img-00.png', '../images/img-01.png', '../images/img-02.png'])
    const fromInside = await runCli(['batch', '../images', '-q', 'Describe.', '-o', 'results.jsonl', '--base-url', server.url], { cwd: join(dir, 'out') })
    expect(fromInside.code).toBe(0)
    expect(fromInside.stderr).toContain('3 of 3 already done')
    expect(server.requests).toHaveLength(3)
  })

  it('stops cleanly on SIGTERM, keeping finished items and not recording interrupted ones', async () => {
    server.fallback = numbered(150)
    const input = await images(12)
    const output = join(dir, 'results.jsonl')
    const args = ['batch', input, '-q', 'Describe.', '-c', '2', '-o', output, '--base-url', server.url]
    const first = startCli(args, { cwd: dir })
    await waitFor(async () => (await readFile(output, 'utf8').catch(() => '')).split('\n').filter(Boolean).length >= 2)
    first.child.kill('SIGTERM')
    const stopped = await first.done
    expect(stopped.code).toBe(130)
    expect(stopped.stderr).toContain('SIGTERM, stopping')
    const kept = await readJsonl(output)
    expect(kept.every((r) => r.ok)).toBe(true)
    const rerun = await runCli(args, { cwd: dir })
    expect(rerun.code).toBe(0)
    const records = await readJsonl(output)
    expect(records.map((r) => r.file).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `images/img-${String(i).padStart(2, '0')}.png`))
  })

  it('keeps going past a failed item, exits 1, and retries only the failure on the next run', async () => {
    let calls = 0
    server.fallback = (request, res) => (++calls === 2 ? apiError(500, 'engine crashed')(request, res) : json(200, completion('fine'))(request, res))
    const input = await images(4)
    const output = join(dir, 'results.jsonl')
    const args = ['batch', input, '-q', 'Describe.', '-c', '1', '-o', output, '--retries', '0', '--base-url', server.url]
    const first = await runCli(args, { cwd: dir })
    expect(first.code).toBe(1)
    expect(first.stderr).toContain('✗ images/img-01.png: 500 engine crashed')
    expect(first.stderr).toContain('items       4 (3 ok, 1 failed, 0 already done)')
    const afterFirst = await readJsonl(output)
    expect(afterFirst).toHaveLength(4)
    expect(afterFirst.find((r) => !r.ok)).toMatchObject({ file: 'images/img-01.png', error: '500 engine crashed' })

    const second = await runCli(args, { cwd: dir })
    expect(second.code).toBe(0)
    expect(second.stderr).toContain('3 of 4 already done, retrying 1 that failed')
    const records = await readJsonl(output)
    expect(records).toHaveLength(4)
    expect(records.every((r) => r.ok)).toBe(true)
    expect(server.requests).toHaveLength(5)
  })

  it('exits 0 despite failures with --allow-failures', async () => {
    server.fallback = apiError(400, 'Invalid image data')
    const input = await images(2)
    const run = await runCli(['batch', input, '-q', 'Describe.', '-o', join(dir, 'out.jsonl'), '--allow-failures', '--base-url', server.url], { cwd: dir })
    expect(run.code).toBe(0)
    expect(run.stderr).toContain('items       2 (0 ok, 2 failed, 0 already done)')
  })

  it('writes CSV with a header, quoting answers with commas, quotes and newlines, and resumes from it', async () => {
    const answer = 'Line one, with "quotes"\nLine two'
    server.fallback = json(200, completion(answer))
    const input = await images(3)
    const output = join(dir, 'results.csv')
    const run = await runCli(['batch', input, '-q', 'Describe.', '-o', output, '--base-url', server.url], { cwd: dir })
    expect(run.code).toBe(0)
    const { rows, partial } = parseCsv(await readFile(output, 'utf8'))
    expect(partial).toBe(false)
    expect(rows[0]?.slice(0, 4)).toEqual(['file', 'question', 'ok', 'answer'])
    expect(rows).toHaveLength(4)
    expect(rows.slice(1).every((row) => row[2] === 'true' && row[3] === answer)).toBe(true)

    const again = await runCli(['batch', input, '-q', 'Describe.', '-o', output, '--base-url', server.url], { cwd: dir })
    expect(again.code).toBe(0)
    expect(server.requests).toHaveLength(3)
    expect(parseCsv(await readFile(output, 'utf8')).rows).toHaveLength(4)
  })

  it('reads a list file (paths relative to the list) and a quoted glob, without duplicates', async () => {
    server.fallback = numbered()
    await images(3, 'a')
    await images(2, 'b')
    await writeFile(join(dir, 'list.txt'), '# my images\na/img-00.png\n\na/img-01.png\n')
    const run = await runCli(['batch', 'list.txt', 'a/*.png', 'b/**/*.png', '-q', 'Describe.', '--base-url', server.url], { cwd: dir })
    expect(run.code).toBe(0)
    const files = run.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line).file)
    expect(files.sort()).toEqual(['a/img-00.png', 'a/img-01.png', 'a/img-02.png', 'b/img-00.png', 'b/img-01.png'])
  })

  it('fails an unreadable list entry on its own without stopping the rest', async () => {
    server.fallback = numbered()
    await images(2, 'a')
    await writeFile(join(dir, 'list.txt'), 'a/img-00.png\na/missing.png\na/img-01.png\n')
    const run = await runCli(['batch', 'list.txt', '-q', 'Describe.', '--base-url', server.url], { cwd: dir })
    expect(run.code).toBe(1)
    const records = run.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
    expect(records).toHaveLength(3)
    expect(records.find((r) => r.file === 'a/missing.png')).toMatchObject({ ok: false, error_type: 'InvalidImageError' })
    expect(server.requests).toHaveLength(2)
  })

  it('answers repeats from the result cache with --cache-dir and reports the hits', async () => {
    server.fallback = numbered()
    const input = await images(3)
    const cacheDir = join(dir, 'cache')
    const args = ['batch', input, '-q', 'Describe.', '--cache-dir', cacheDir, '--base-url', server.url]
    expect((await runCli(args, { cwd: dir })).code).toBe(0)
    // Three identical images: one request, two hits.
    expect(server.requests.length).toBeLessThanOrEqual(3)
    const before = server.requests.length
    const again = await runCli(args, { cwd: dir })
    expect(again.code).toBe(0)
    expect(server.requests.length).toBe(before)
    expect(again.stderr).toContain('3 from cache')
    expect(
      again.stdout
        .split('\n')
        .filter(Boolean)
        .every((line) => JSON.parse(line).cached === true),
    ).toBe(true)
  })

  it('refuses an output path it cannot write, before asking anything', async () => {
    const input = await images(1)
    const run = await runCli(['batch', input, '-q', 'x', '-o', join(dir, 'no', 'such', 'dir', 'out.jsonl'), '--base-url', server.url], { cwd: dir })
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^visto batch: cannot use .*out\.jsonl for results: ENOENT/)
    expect(server.requests).toHaveLength(0)
  })

  it('sends --pages with every PDF (images as they are) and refuses a malformed list before asking anything', async () => {
    server.fallback = numbered()
    const input = await images(1, 'mixed')
    await writeFile(join(input, 'report.pdf'), await textPdf(3))
    const output = join(dir, 'results.jsonl')
    const malformed = await runCli(['batch', input, '-q', 'Summarise.', '-o', output, '--pages', '2-', '--base-url', server.url], { cwd: dir })
    expect([malformed.code, malformed.stderr.trim()]).toEqual([2, 'visto batch: --pages must be page numbers and ranges like "1-3,7", got "2-"'])
    expect(server.requests).toHaveLength(0)

    const run = await runCli(['batch', input, '-q', 'Summarise.', '-o', output, '--pages', '2-3', '--base-url', server.url], { cwd: dir })
    expect(run.code).toBe(0)
    const parts = server.requests.map((request) => request.json!.messages[0]!.content as Array<{ type: string; file?: { filename?: string; pages?: string } }>)
    const pdfPart = parts.flat().find((part) => part.type === 'file')
    expect(pdfPart?.file).toMatchObject({ filename: 'report.pdf', pages: '2-3' })
    const imagePart = parts.flat().find((part) => part.type === 'image_url')
    expect(imagePart).toBeDefined()
    expect((await readJsonl(output)).map((r) => [r.file, r.ok]).sort()).toEqual([
      ['mixed/img-00.png', true],
      ['mixed/report.pdf', true],
    ])
  })

  it('exits 3 when the server cannot be reached at all, and 2 for bad usage', async () => {
    const input = await images(2)
    const closed = await startScriptedServer()
    const url = closed.url
    await closed.close()
    const unreachable = await runCli(['batch', input, '-q', 'Describe.', '--retries', '0', '--base-url', url], { cwd: dir })
    expect(unreachable.code).toBe(3)
    expect(unreachable.stderr).toContain(`cannot reach the server at ${url}/v1`)
    expect((await runCli(['batch', input, '--base-url', url], { cwd: dir })).code).toBe(2)
    expect((await runCli(['batch', 'nowhere/', '-q', 'x'], { cwd: dir })).code).toBe(2)
    expect((await runCli(['batch', input, '-q', 'x', '-c', '0'], { cwd: dir })).code).toBe(2)
    expect((await runCli(['batch', input, '-q', 'x', '--format', 'xml'], { cwd: dir })).code).toBe(2)
  })
})
