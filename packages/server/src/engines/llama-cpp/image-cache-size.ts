import { totalmem } from 'node:os'

const MiB = 1024 * 1024

/**
 * The most memory an auto-sized embedding cache takes, in MiB: vLLM's default for its own
 * multimodal cache (mm_processor_cache_gb = 4). That is 101 photos of 1,029 tokens on
 * Qwen3-VL-4B, which a pool's affinity routing needs to keep popular images cached: in the
 * 64-engine simulation, 256 MiB (6 photos) per engine skipped the encoder for 0.85 × as many
 * requests as an unbounded cache, 4096 MiB for 0.98 × (docs/benchmarks.md, "Routing a pool
 * of engines").
 */
export const autoImageCacheCeilingMb = 4096

/**
 * The embedding cache each llama-server child gets, in MiB. auto: an eighth of
 * `memoryBytes` (the memory this process may use), at most autoImageCacheCeilingMb,
 * split evenly over the children, which share that memory. The cache lives in host memory
 * (also with a GPU) and grows only with distinct images, so a server asked about a few
 * images uses little of it.
 */
export function imageCacheMbPerEngine(setting: number | 'auto', memoryBytes: number, children = 1): number {
  if (setting !== 'auto') return setting
  const total = Math.min(autoImageCacheCeilingMb, Math.floor(memoryBytes / 8 / MiB))
  return Math.floor(total / Math.max(1, children))
}

/** The memory this process may use, in bytes: its cgroup's limit (a container's) when below the machine's memory. */
export function usableMemoryBytes(): number {
  const machine = totalmem()
  const limit = process.constrainedMemory?.() ?? 0
  return limit > 0 && limit < machine ? limit : machine
}
