import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { acquireFileLock } from '../../file-lock.js'
import { locateLlamaSource } from './llama-source.js'

export type EngineFlavor = 'cpu' | 'cuda'

export interface EngineBuild {
  flavor: EngineFlavor
  llamaServer: string
  llamaBench: string
  buildDir: string
  /** The cache key: same key, same binary. */
  key: string
}

export interface BuildOptions {
  cacheDir: string
  flavor?: EngineFlavor
  jobs?: number
  /** Progress lines for a human (stderr). */
  log?: (line: string) => void
  /** 0..1 as cmake reports it. */
  onProgress?: (fraction: number) => void
}

const STAMP = 'visto-build.json'
/**
 * Bumped when the way we build changes (flags, not patches: those have their own hash), so
 * builds cached by an earlier recipe are rebuilt. 2: no AMX kernels (see cmakeFlags).
 */
export const BUILD_RECIPE = 2
const PATCH_MARKER = '.visto-patches'

/**
 * Our few changes to llama.cpp, applied to the bundled source before building (see each
 * patch's comment). Found next to src/ and dist/ alike: both sit one level below the
 * package root.
 */
const PATCH_DIR = fileURLToPath(new URL('../../../engine-patches/', import.meta.url))

export function enginePatches(): { files: string[]; hash: string } {
  const files = existsSync(PATCH_DIR)
    ? readdirSync(PATCH_DIR)
        .filter((f) => f.endsWith('.patch'))
        .sort()
        .map((f) => path.join(PATCH_DIR, f))
    : []
  const hash = createHash('sha256')
  for (const file of files) hash.update(path.basename(file)).update(readFileSync(file))
  return { files, hash: hash.digest('hex').slice(0, 16) }
}

function stampMatches(buildDir: string): boolean {
  try {
    const stamp = JSON.parse(readFileSync(path.join(buildDir, STAMP), 'utf8')) as { patches?: string; recipe?: number }
    return stamp.patches === enginePatches().hash && stamp.recipe === BUILD_RECIPE
  } catch {
    return false
  }
}

/** CUDA only when a GPU is really there: nvcc alone (a toolkit without a card) is common. */
export function detectFlavor(): EngineFlavor {
  const hasNvcc = spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0
  const hasGpu = existsSync('/dev/nvidia0') || spawnSync('nvidia-smi', ['-L'], { stdio: 'ignore' }).status === 0
  return hasNvcc && hasGpu ? 'cuda' : 'cpu'
}

/**
 * -march=native turns on ggml's AMX matrix kernels on Intel Xeons from Sapphire Rapids on,
 * and in this llama.cpp they crash: llama-bench and llama-server die with SIGSEGV in
 * ggml_backend_amx_mul_mat on the first prompt of a Q4_0 model (reproduced on a 2-core
 * Xeon VM with amx_int8; llama.cpp issue 20824 reports the same for Q4_K_M, and PR 16315
 * wrong results for Q4_0/Q4_1). Everything else -march=native enables (AVX-512, VNNI)
 * stays. GCC and Clang honour an explicit -mno-… whatever its place beside -march.
 */
const NO_AMX = '-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'

export function cmakeFlags(flavor: EngineFlavor, env: NodeJS.ProcessEnv = process.env, arch: string = process.arch): string[] {
  const flags = [
    '-DCMAKE_BUILD_TYPE=Release',
    // Native code for this CPU: the whole point of building instead of using prebuilt binaries.
    '-DGGML_NATIVE=ON',
    '-DBUILD_SHARED_LIBS=OFF',
    '-DLLAMA_BUILD_TESTS=OFF',
    '-DLLAMA_BUILD_EXAMPLES=OFF',
    '-DLLAMA_BUILD_SERVER=ON',
    '-DLLAMA_BUILD_TOOLS=ON',
    '-DLLAMA_BUILD_APP=OFF',
    // No network during builds: no prebuilt web UI, no HTTPS/curl model downloads (Visto downloads models itself).
    '-DLLAMA_USE_PREBUILT_UI=OFF',
    '-DLLAMA_OPENSSL=OFF',
    '-DLLAMA_CURL=OFF',
  ]
  if (arch === 'x64') flags.push(`-DCMAKE_C_FLAGS=${NO_AMX}`, `-DCMAKE_CXX_FLAGS=${NO_AMX}`)
  if (flavor === 'cuda') flags.push('-DGGML_CUDA=ON')
  // With GGML_NATIVE, llama.cpp compiles CUDA for the GPUs it sees, so a build without one
  // (an image build) must name the architectures. CMake's own CUDAARCHS comes too late for
  // llama.cpp's check, so it is passed on explicitly.
  const architectures = env.CUDAARCHS?.trim()
  if (flavor === 'cuda' && architectures) flags.push(`-DCMAKE_CUDA_ARCHITECTURES=${architectures}`)
  return flags
}

export function engineRoot(cacheDir: string): string {
  const { packageVersion } = locateLlamaSource()
  return path.join(cacheDir, 'engine', `llama.cpp-nlc${packageVersion}`)
}

/** The cached build for this flavor, or undefined when it has not been built (completely). */
export function findCachedBuild(cacheDir: string, flavor: EngineFlavor = detectFlavor()): EngineBuild | undefined {
  const buildDir = path.join(engineRoot(cacheDir), `build-${flavor}`)
  const build = describeBuild(buildDir, flavor, cacheDir)
  // A build from other patches is stale: rebuilding it is incremental (same folder).
  if (!stampMatches(buildDir) || !existsSync(build.llamaServer)) return undefined
  return build
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

function describeBuild(buildDir: string, flavor: EngineFlavor, cacheDir: string): EngineBuild {
  return {
    flavor,
    buildDir,
    llamaServer: path.join(buildDir, 'bin', 'llama-server'),
    llamaBench: path.join(buildDir, 'bin', 'llama-bench'),
    key: `${path.basename(engineRoot(cacheDir))}/${flavor}`,
  }
}

function requireTool(name: string, versionArg: string, hint: string): void {
  if (spawnSync(name, [versionArg], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`Building the llama.cpp engine needs ${name}, which was not found. ${hint}`)
  }
}

function run(command: string, args: string[], options: { cwd?: string; log?: (line: string) => void; onLine?: (line: string) => void }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    const tail: string[] = []
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue
        tail.push(line)
        if (tail.length > 40) tail.shift()
        options.onLine?.(line)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve()
      else reject(new Error(`${command} ${args.join(' ')} failed (exit ${code}). Last output:\n${tail.join('\n')}`))
    })
  })
}

/**
 * Builds llama-server and llama-bench natively from the bundled llama.cpp source into
 * the cache, keyed by node-llama-cpp's version and the flavor. Reuses a finished build.
 */
export async function buildEngine(options: BuildOptions): Promise<EngineBuild> {
  const flavor = options.flavor ?? detectFlavor()
  const log = options.log ?? (() => {})
  const cached = findCachedBuild(options.cacheDir, flavor)
  if (cached) return cached

  requireTool('git', '--version', 'Install it (Debian/Ubuntu: `apt-get install git`).')
  requireTool('cmake', '--version', 'Install it (Debian/Ubuntu: `apt-get install cmake build-essential`; macOS: `brew install cmake`).')
  requireTool(process.env.CXX ?? 'c++', '--version', 'Install a C++ compiler (Debian/Ubuntu: `apt-get install build-essential`; macOS: `xcode-select --install`).')

  const source = locateLlamaSource()
  const root = engineRoot(options.cacheDir)
  mkdirSync(root, { recursive: true })
  let waits = 0
  const release = await acquireFileLock(path.join(root, `build-${flavor}.lock`), {
    // Compiling can pause output for minutes, but the holder's heartbeat keeps the lock live.
    onWait: () => {
      if (waits++ % 30 === 0) log('waiting for another build of this engine to finish…')
    },
  })
  try {
    const again = findCachedBuild(options.cacheDir, flavor)
    if (again) return again

    const srcDir = path.join(root, 'src')
    if (!existsSync(path.join(srcDir, 'CMakeLists.txt'))) {
      log(`unpacking llama.cpp ${source.tag} from node-llama-cpp ${source.packageVersion}…`)
      const tmp = `${srcDir}.tmp-${process.pid}`
      rmSync(tmp, { recursive: true, force: true })
      await run('git', ['clone', '--quiet', source.bundlePath, tmp], { log })
      rmSync(srcDir, { recursive: true, force: true })
      renameSync(tmp, srcDir)
    }

    const patches = enginePatches()
    if (readText(path.join(srcDir, PATCH_MARKER)) !== patches.hash) {
      log(`applying ${patches.files.length} Visto patch(es) to llama.cpp…`)
      await run('git', ['-C', srcDir, 'checkout', '--quiet', '--', '.'], { log })
      for (const file of patches.files) await run('git', ['-C', srcDir, 'apply', file], { log })
      writeFileSync(path.join(srcDir, PATCH_MARKER), patches.hash)
    }

    const build = describeBuild(path.join(root, `build-${flavor}`), flavor, options.cacheDir)
    const flags = cmakeFlags(flavor)
    log(`configuring (${flavor}, GGML_NATIVE)…`)
    await run('cmake', ['-S', srcDir, '-B', build.buildDir, ...flags], { log })
    const jobs = options.jobs ?? Math.max(1, os.availableParallelism())
    log(`compiling llama-server and llama-bench with ${jobs} jobs (about 15 minutes on 2 cores; done once, then cached)…`)
    let last = -1
    await run('cmake', ['--build', build.buildDir, '--config', 'Release', '-j', String(jobs), '--target', 'llama-server', 'llama-bench'], {
      onLine: (line) => {
        const match = /^\[\s*(\d+)%\]/.exec(line)
        if (!match) return
        const percent = Number(match[1])
        if (percent !== last) {
          last = percent
          options.onProgress?.(percent / 100)
        }
      },
    })
    if (!existsSync(build.llamaServer)) throw new Error(`The build finished but ${build.llamaServer} is missing.`)
    writeFileSync(
      path.join(build.buildDir, STAMP),
      JSON.stringify(
        { key: build.key, flavor, nodeLlamaCpp: source.packageVersion, tag: source.tag, patches: patches.hash, recipe: BUILD_RECIPE, flags, builtAt: new Date().toISOString() },
        null,
        2,
      ),
    )
    return build
  } finally {
    await release()
  }
}
