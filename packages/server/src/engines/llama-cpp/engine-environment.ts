/**
 * The environment Visto's llama-server starts with: Visto's own, minus what the engine
 * has no use for and must not hold. Anyone who can read the child's environment (its
 * owner, /proc/PID/environ, a crash reporter, a core dump) would otherwise find Visto's
 * API key and the upstream key there, and whatever tokens the shell exported.
 *
 * A denylist rather than an allowlist: llama.cpp and its GPU back ends read many
 * variables (CUDA_*, HIP_*, GGML_*, OMP_*, VK_*, LD_LIBRARY_PATH, locale, TMPDIR …) and a
 * missing one fails in ways far from here. It drops:
 * - every VISTO_* variable: Visto's configuration, its keys among it, is Visto's;
 * - anything named like a credential: *_API_KEY, *_TOKEN, *_SECRET, *PASSWORD*, *_CREDENTIALS,
 *   *_PRIVATE_KEY, AWS_* keys, and npm's auth settings. llama-server is given a model file,
 *   so it downloads nothing and needs no hub token (HF_TOKEN).
 * Then sets what Visto gives it (LLAMA_API_KEY and the like), which wins over anything inherited.
 */
const secretLooking = /(^|_)(API_?KEY|ACCESS_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?|PRIVATE_?KEY|AUTH_?TOKEN|SESSION_?KEY)(_|$)|_authToken$|_auth$|^AWS_/i

/** Whether an inherited variable stays out of llama-server's environment. */
export function isWithheldFromEngine(name: string): boolean {
  return name.toUpperCase().startsWith('VISTO_') || secretLooking.test(name)
}

export function engineEnvironment(inherited: NodeJS.ProcessEnv, own: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(inherited)) {
    if (value !== undefined && !isWithheldFromEngine(name)) env[name] = value
  }
  for (const [name, value] of Object.entries(own)) {
    if (value !== undefined) env[name] = value
  }
  return env
}
