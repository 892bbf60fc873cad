import { parseArgs } from 'node:util'
import { formatBytes } from '@visto/protocol'
import { CliError, ExitCode } from '../cli-error.js'
import { loadServer } from '../optional-packages.js'
import type { Command } from '../cli.js'

const help = `Usage: visto models pull [MODEL] [--source huggingface|modelscope] [--cache DIR]
       visto models list [--json] [--cache DIR]
       visto models rm SPEC [--source huggingface|modelscope] [--cache DIR]

pull   downloads a model and its mmproj into the cache without serving (an image build step,
       a Kubernetes init container). MODEL is what \`visto serve --model\` takes: a hub spec
       such as Qwen/Qwen3-VL-4B-Instruct-GGUF:Q8_0; none means the default model. Progress,
       resume, checksums, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE work as in \`visto serve\`.
       The two file paths go to stdout.
list   the cached hub models and their files, with sizes (and downloads that will resume).
rm     removes owner/repo, owner/repo:QUANT (that quant's model files) or owner/repo:file.gguf.

The cache is VISTO_CACHE (default ~/.cache/visto; /data in the container image).`

function parseModelsArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      source: { type: 'string' },
      cache: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

const command: Command = {
  summary: 'pull (download without serving), list or remove cached models',
  async run(argv) {
    let parsed: ReturnType<typeof parseModelsArgs>
    try {
      parsed = parseModelsArgs(argv)
    } catch (error) {
      throw new CliError((error as Error).message, ExitCode.Usage)
    }
    const { values, positionals } = parsed
    if (values.help) {
      process.stdout.write(`${help}\n`)
      return ExitCode.Ok
    }
    const [action, ...specs] = positionals
    const source = values.source ?? 'huggingface'
    if (source !== 'huggingface' && source !== 'modelscope') throw new CliError(`--source must be huggingface or modelscope; got "${source}"`, ExitCode.Usage)
    if (action !== 'pull' && action !== 'list' && action !== 'rm') throw new CliError(`expected "pull", "list" or "rm"\n\n${help}`, ExitCode.Usage)
    if (specs.length > (action === 'list' ? 0 : 1)) throw new CliError(`one model at a time: got ${specs.join(' ')}`, ExitCode.Usage)
    if (action === 'rm' && specs.length === 0) throw new CliError('rm needs what to remove: owner/repo, owner/repo:QUANT or owner/repo:file.gguf', ExitCode.Usage)

    const models = await loadServer(() => import('@visto/server/models'))
    const cacheDir = values.cache ?? models.defaultCacheDir()
    const asUserError = (error: unknown): never => {
      if (error instanceof models.ModelError) throw new CliError(error.message, ExitCode.Failure)
      throw error
    }

    if (action === 'pull') {
      const abort = new AbortController()
      const onSigint = (): void => abort.abort(new Error('interrupted'))
      process.once('SIGINT', onSigint)
      let downloaded = false
      const printProgress = models.createProgressPrinter()
      try {
        const resolved = await models
          .resolveModel(
            { model: specs[0], source },
            {
              cacheDir,
              signal: abort.signal,
              onProgress: (progress) => {
                downloaded = true
                printProgress(progress)
              },
            },
          )
          .catch(asUserError)
        process.stderr.write(`visto models: ${downloaded ? 'pulled' : 'already in the cache:'} ${resolved.label}\n`)
        process.stdout.write(`${resolved.modelPath}\n${resolved.mmprojPath}\n`)
        return ExitCode.Ok
      } catch (error) {
        if (abort.signal.aborted) {
          process.stderr.write('visto models: interrupted; the next pull resumes the download\n')
          return 130
        }
        throw error
      } finally {
        process.off('SIGINT', onSigint)
      }
    }

    const cache = await loadServer(() => import('@visto/server/model-cache'))
    if (action === 'rm') {
      const removed = await cache.removeCachedModel(cacheDir, specs[0]!, source).catch(asUserError)
      for (const file of removed.files) process.stdout.write(`removed ${file}\n`)
      process.stderr.write(`visto models: freed ${formatBytes(removed.bytes)} in ${removed.dir}\n`)
      return ExitCode.Ok
    }

    const repos = await cache.listCachedModels(cacheDir)
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ cache: cacheDir, models: repos }, null, 2)}\n`)
      return ExitCode.Ok
    }
    if (repos.length === 0) {
      process.stdout.write(`No models cached in ${cacheDir}. \`visto models pull\` downloads the default one.\n`)
      return ExitCode.Ok
    }
    const width = Math.max(...repos.flatMap((repo) => repo.files.map((file) => file.path.length + 2)), ...repos.map((repo) => repo.repo.length))
    for (const repo of repos) {
      process.stdout.write(`${repo.repo.padEnd(width)}  ${formatBytes(repo.bytes).padStart(9)}  ${repo.source}\n`)
      for (const file of repo.files) {
        process.stdout.write(`  ${file.path.padEnd(width - 2)}  ${formatBytes(file.bytes).padStart(9)}${file.partial ? '  (partial: the next pull resumes it)' : ''}\n`)
      }
    }
    const total = repos.reduce((sum, repo) => sum + repo.bytes, 0)
    process.stdout.write(`${formatBytes(total)} in ${cacheDir}\n`)
    return ExitCode.Ok
  },
}
export default command
