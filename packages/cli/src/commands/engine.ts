import { parseArgs } from 'node:util'
import { CliError, ExitCode } from '../cli-error.js'
import { loadServer } from '../optional-packages.js'
import type { Command } from '../cli.js'

const help = `Usage: visto engine build [--cuda | --cpu] [--jobs N] [--if-needed] [--cache DIR]
       visto engine path

Builds llama.cpp's llama-server natively (GGML_NATIVE; CUDA when a GPU and nvcc are present)
from the source bundled in the node-llama-cpp package, into the cache (VISTO_CACHE, default
~/.cache/visto). A finished build is reused. "path" prints the llama-server Visto would run.`

const command: Command = {
  summary: 'build (once, cached) or locate the native llama-server engine',
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        cuda: { type: 'boolean' },
        cpu: { type: 'boolean' },
        jobs: { type: 'string' },
        'if-needed': { type: 'boolean' },
        cache: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
    if (values.help) {
      process.stdout.write(`${help}\n`)
      return ExitCode.Ok
    }
    const [action] = positionals
    const { defaultCacheDir } = await loadServer(() => import('@visto/server/cache-dir'))
    const { buildEngine, detectFlavor, findCachedBuild } = await loadServer(() => import('@visto/server/engine-build'))
    const { locateLlamaServer } = await loadServer(() => import('@visto/server/llama-server-binary'))
    const cacheDir = values.cache ?? defaultCacheDir()
    if (action === 'path') {
      const located = await locateLlamaServer({ cacheDir, build: false })
      process.stdout.write(`${located.path}\n`)
      return ExitCode.Ok
    }
    if (action !== 'build') throw new CliError(`expected "build" or "path"\n\n${help}`, ExitCode.Usage)
    const jobs = values.jobs === undefined ? undefined : Number(values.jobs)
    if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) throw new CliError('--jobs must be a positive integer', ExitCode.Usage)
    const flavor = values.cuda ? 'cuda' : values.cpu ? 'cpu' : detectFlavor()
    const cached = findCachedBuild(cacheDir, flavor)
    if (cached) {
      process.stderr.write(`visto engine: using cached ${cached.key} build: ${cached.llamaServer}\n`)
      process.stdout.write(`${cached.llamaServer}\n`)
      return ExitCode.Ok
    }
    if (values['if-needed']) {
      // During `npm install`: a llama-server on PATH is enough, no build needed.
      try {
        const located = await locateLlamaServer({ cacheDir, build: false })
        process.stderr.write(`visto engine: using ${located.path}\n`)
        return ExitCode.Ok
      } catch {
        // Nothing usable: build below.
      }
    }
    const started = Date.now()
    const isTty = process.stderr.isTTY
    let lastPrinted = -1
    const build = await buildEngine({
      cacheDir,
      flavor,
      ...(jobs === undefined ? {} : { jobs }),
      log: (line) => process.stderr.write(`visto engine: ${line}\n`),
      onProgress: (fraction) => {
        const percent = Math.round(fraction * 100)
        const elapsed = Math.round((Date.now() - started) / 1000)
        if (isTty) process.stderr.write(`\rvisto engine: compiling ${String(percent).padStart(3)}%  ${elapsed}s elapsed`)
        else if (percent >= lastPrinted + 10 || (percent === 100 && lastPrinted !== 100)) {
          lastPrinted = percent
          process.stderr.write(`visto engine: compiling ${percent}% (${elapsed}s)\n`)
        }
      },
    })
    if (isTty) process.stderr.write('\n')
    process.stderr.write(`visto engine: built ${build.key} in ${Math.round((Date.now() - started) / 1000)} s: ${build.llamaServer}\n`)
    process.stdout.write(`${build.llamaServer}\n`)
    return ExitCode.Ok
  },
}
export default command
