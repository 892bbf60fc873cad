// `node test-support/serve-with-failpoint.js <point>[:<hit>] <visto serve flags…>`
//
// The real server (built dist), started as `visto serve` starts it, with one thing
// added: it SIGKILLs itself the <hit>-th time (default 1) a batch reaches <point>
// (`validated`, `line-started`, `line-recorded`, `finalized-files`). The crash tests run this instead of
// `visto serve`, so the server itself reads no test switch. Plain JavaScript: Node runs it
// as it is.
import { parseServeConfig } from '../packages/server/dist/config.js'
import { startServer } from '../packages/server/dist/main.js'

const [spec = '', ...argv] = process.argv.slice(2)
const [name, hit] = spec.split(':')
if (!name) throw new Error('usage: serve-with-failpoint.js <point>[:<hit>] <visto serve flags…>')
let remaining = Number(hit ?? 1)
const batchFailpoint = (point) => {
  if (point === name && --remaining <= 0) process.kill(process.pid, 'SIGKILL')
}

const server = await startServer(parseServeConfig(argv), { log: (line) => process.stderr.write(`visto: ${line}\n`) }, { batchFailpoint })
// Never leave an orphaned llama-server behind when the test stops this process normally.
process.once('exit', () => server.kill())
process.once('SIGTERM', () => void server.shutdown().finally(() => process.exit(0)))
