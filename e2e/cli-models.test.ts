import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { fakeGguf, FakeHub } from '../test-support/fake-hub.js'
import { runCli } from '../test-support/run-cli.js'

const REPO = 'Qwen/Qwen3-VL-4B-Instruct-GGUF'
const MODEL = 'Qwen3VL-4B-Instruct-Q4_K_M.gguf'
const MMPROJ = 'mmproj-Qwen3VL-4B-Instruct-F16.gguf'

let hub: FakeHub
let dir: string
let cacheDir: string
const model = fakeGguf(300_000, 1)
const mmproj = fakeGguf(100_000, 2)

beforeAll(async () => {
  hub = new FakeHub().addRepo(REPO, { [MODEL]: { content: model }, [MMPROJ]: { content: mmproj }, 'Qwen3VL-4B-Instruct-Q8_0.gguf': { content: fakeGguf(500_000, 3) } })
  await hub.start()
  dir = await mkdtemp(join(tmpdir(), 'visto-cli-models-'))
  cacheDir = join(dir, 'cache')
})
afterAll(async () => {
  await hub.close()
  await rm(dir, { recursive: true, force: true })
})

const repoDir = () => join(cacheDir, 'models', 'huggingface', ...REPO.split('/'))
const env = () => ({ HF_ENDPOINT: hub.endpoint, VISTO_CACHE: cacheDir })

// One sequence: pull, pull again, list, remove — each step sees what the previous one left.
describe('visto models', () => {
  it('pull downloads the default model and mmproj into VISTO_CACHE without serving, the paths on stdout and progress on stderr', async () => {
    const run = await runCli(['models', 'pull'], { env: env() })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe(`${join(repoDir(), MODEL)}\n${join(repoDir(), MMPROJ)}\n`)
    expect(run.stderr).toContain(`Downloaded  100.0%  293 KiB/293 KiB  ${MODEL}`)
    expect(run.stderr).toContain(`visto models: pulled ${REPO} from Hugging Face (${MODEL} + ${MMPROJ})`)
    expect((await readFile(join(repoDir(), MODEL))).equals(model)).toBe(true)
    expect((await readFile(join(repoDir(), MMPROJ))).equals(mmproj)).toBe(true)
  })

  it('pull again finds the files in the cache and asks the hub nothing, even offline', async () => {
    const before = hub.requests.length
    const run = await runCli(['models', 'pull'], { env: { ...env(), HF_HUB_OFFLINE: '1' } })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toContain('visto models: already in the cache: ')
    expect(hub.requests.length).toBe(before)
  })

  it('pull of a quant the cache lacks, offline, fails with the guidance serve gives and exit code 1', async () => {
    const run = await runCli(['models', 'pull', `${REPO}:Q8_0`], { env: { ...env(), HF_HUB_OFFLINE: '1' } })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain(`visto models: HF_HUB_OFFLINE is set and ${REPO}:Q8_0 is not in the cache`)
    expect(run.stdout).toBe('')
  })

  it('list shows each cached repository and file with its size, and --json the same as data', async () => {
    const run = await runCli(['models', 'list', '--cache', cacheDir])
    expect(run.code, run.stderr).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(new RegExp(`^${REPO} +391 KiB  huggingface$`))
    expect(lines[1]).toMatch(new RegExp(`^  ${MMPROJ} +97.7 KiB$`))
    expect(lines[2]).toMatch(new RegExp(`^  ${MODEL} +293 KiB$`))
    expect(lines[3]).toBe(`391 KiB in ${cacheDir}`)
    const json = await runCli(['models', 'list', '--json'], { env: env() })
    expect(JSON.parse(json.stdout)).toEqual({
      cache: cacheDir,
      models: [
        {
          source: 'huggingface',
          repo: REPO,
          dir: repoDir(),
          files: [
            { path: MMPROJ, bytes: 100_000, partial: false },
            { path: MODEL, bytes: 300_000, partial: false },
          ],
          bytes: 400_000,
        },
      ],
    })
  })

  it('rm removes a repository and says what it freed; list then says nothing is cached', async () => {
    const run = await runCli(['models', 'rm', REPO], { env: env() })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe(`removed ${MMPROJ}\nremoved ${MODEL}\n`)
    expect(run.stderr).toBe(`visto models: freed 391 KiB in ${repoDir()}\n`)
    expect(existsSync(repoDir())).toBe(false)
    const list = await runCli(['models', 'list'], { env: env() })
    expect(list.stdout).toBe(`No models cached in ${cacheDir}. \`visto models pull\` downloads the default one.\n`)
    const again = await runCli(['models', 'rm', REPO], { env: env() })
    expect(again.code).toBe(1)
    expect(again.stderr).toBe(`visto models: ${REPO} from huggingface is not in the cache (${join(cacheDir, 'models')}). Nothing is cached.\n`)
  })

  it.each([
    [[], 'expected "pull", "list" or "rm"'],
    [['fetch'], 'expected "pull", "list" or "rm"'],
    [['rm'], 'rm needs what to remove: owner/repo, owner/repo:QUANT or owner/repo:file.gguf'],
    [['pull', 'a/b', 'c/d'], 'one model at a time: got a/b c/d'],
    [['pull', '--source', 'civitai'], '--source must be huggingface or modelscope; got "civitai"'],
    [['list', '--bogus'], "Unknown option '--bogus'"],
  ])('rejects %j with exit code 2', async (args, message) => {
    const run = await runCli(['models', ...args], { env: env() })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(`visto models: ${message}`)
    expect(run.stdout).toBe('')
  })
})
