// The HTTP fuzz's server (scripts/fuzz-images.js --http): real routes, pipeline, files and
// batches, an echo engine instead of the model, in a worker thread of its own, so that the
// fuzz's /health probe measures the server's event loop and not the client's.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import { composeServer } from '../packages/server/dist/compose.js'
import { serveConfig } from '../packages/server/dist/config.js'
import { qwen3VlGeometry } from '../packages/server/dist/engines/vision-geometry.js'

const { concurrency } = workerData
// Answers at once, so the run measures the HTTP layer and the image pipeline.
const engine = {
  id: 'fuzz-echo',
  describe: () => ({ models: ['qwen3-vl-4b-instruct'], contextLength: 8192, parallel: concurrency, vision: true, geometry: qwen3VlGeometry, kind: 'fuzz-echo' }),
  state: () => ({ status: 'ready' }),
  health: async () => {},
  async *generate() {
    yield { type: 'text', text: 'ok' }
    yield { type: 'done', finishReason: 'stop', promptTokens: 1, completionTokens: 1 }
  },
  start: async () => {},
  close: async () => {},
  kill: () => {},
}
const config = serveConfig({ parallel: concurrency, 'max-queue': 1024, 'default-max-tokens': 16, 'body-limit-mb': 50 })
// A data directory of its own, so the batch and file attacks run too.
const dataDir = await mkdtemp(join(tmpdir(), 'visto-fuzz-'))
const { app, batches, dataDir: data } = await composeServer(config, { engine, data: { dir: dataDir } })
const address = await app.listen({ port: 0, host: '127.0.0.1' })
batches?.start()
parentPort.once('message', async () => {
  await batches?.drain(Date.now())
  await app.close()
  data?.close()
  await rm(dataDir, { recursive: true, force: true })
  parentPort.postMessage('closed')
})
parentPort.postMessage({ address })
