import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../test-support/paths.js'

/**
 * The HTTP fuzz as `npm run fuzz -- --http` runs it (built code, its server in a worker
 * thread), a short run: random hostile images and bodies, then every request of issue 18
 * that once froze, crashed, stalled or escaped the error envelope, each with its expected
 * refusal and /health answering meanwhile.
 */
function fuzz(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'scripts/fuzz-images.js'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('the HTTP fuzz with the attacks of issue 18', () => {
  it('holds every attack, with no 5xx and no stall, and the server still answers', async () => {
    // /health may lag while another test file keeps the second core busy (263 ms was seen
    // beside the engine tests); 1 s still catches every stall these attacks once caused
    // (1.4 to 16 s). The tighter 250 ms default is for `npm run fuzz` on its own.
    const { code, stdout, stderr } = await fuzz(['--http', '--cases', '100', '--seed', '18', '--concurrency', '2', '--max-stall-ms', '1000', '--json'])
    const report = JSON.parse(stdout) as { violations: number; firstViolations: string[]; attacks: Array<{ label: string; wrong?: string; slowestHealthMs: number }> }
    expect(report.firstViolations, stderr).toEqual([])
    expect(report.violations).toBe(0)
    expect(code).toBe(0)
    const labels = report.attacks.map((attack) => attack.label)
    for (const expected of [
      'a 46 MiB body of nested [',
      'a json_schema pattern whose repetitions nest (froze llama-server for good)',
      'eight 100 MP images over the context (17 s of decoding, then a 400)',
      'a hostile Host header: two Host lines',
      'a hostile Host header: no Host on HTTP/1.1',
      'a path segment of 5000 characters (414 outside the envelope)',
      'bad chunked encoding',
      'a hostile file name: "请求.jsonl"',
      'a batch line of 40 MB of nested [ (ran validation out of heap, again on every restart)',
    ]) {
      expect(labels).toContain(expected)
    }
  }, 120_000)
})
