// Runs after `npm install`: builds the native llama-server once (cached), so `npm start`
// serves at native speed. A machine without a toolchain still installs; the message says
// what to install, and `visto serve` repeats it if no engine can be found.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

if (process.env.VISTO_SKIP_ENGINE_BUILD === '1') {
  console.error('visto: VISTO_SKIP_ENGINE_BUILD=1, not building llama-server now')
  process.exit(0)
}
const bin = fileURLToPath(new URL('../packages/cli/bin/visto.js', import.meta.url))
const result = spawnSync(process.execPath, [bin, 'engine', 'build', '--if-needed'], { stdio: 'inherit' })
if (result.status !== 0) {
  console.error('\nvisto: the native llama.cpp engine was not built (see above). Visto installed anyway;')
  console.error('visto: fix the cause and run `npx visto engine build`, or pass --llama-server PATH to visto serve.\n')
}
