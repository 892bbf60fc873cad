/**
 * The model `visto serve` runs when given none: Qwen's own GGUF release of
 * Qwen3-VL-4B-Instruct, Q4_K_M weights with the F16 vision projector (mmproj).
 *
 * Names from https://huggingface.co/Qwen/Qwen3-VL-4B-Instruct-GGUF, as cited by
 * lemonade-sdk's server model list ("Checkpoint Qwen/Qwen3-VL-4B-Instruct-GGUF, GGUF
 * Variant Q4_K_M, Mmproj mmproj-Qwen3VL-4B-Instruct-F16.gguf") and by several projects
 * that download the exact URLs .../resolve/main/Qwen3VL-4B-Instruct-Q4_K_M.gguf
 * (2,497,281,664 bytes, sha256 66358cb1…730a0a) and .../mmproj-Qwen3VL-4B-Instruct-F16.gguf
 * (836,180,256 bytes, sha256 256f3a43…985331); found with the code search in Nov 2026.
 * Note the file names say "Qwen3VL" while the repository says "Qwen3-VL".
 * We do not hard-code size or hash: the hub's listing is the authority and is checked
 * at download time. ModelScope mirrors Qwen's repositories under the same id; that the
 * GGUF repository exists there under exactly this id is assumed, not verified.
 */
export const DEFAULT_MODEL = {
  repo: 'Qwen/Qwen3-VL-4B-Instruct-GGUF',
  file: 'Qwen3VL-4B-Instruct-Q4_K_M.gguf',
  mmproj: 'mmproj-Qwen3VL-4B-Instruct-F16.gguf',
} as const
