import { Worker } from 'node:worker_threads'

/**
 * Runs one synchronous decoder in its own short-lived worker thread: the event loop keeps
 * serving while it works, a time limit or a client that goes away terminates it, and a
 * hostile file that traps, hangs or exhausts memory kills a worker, not the server. Each
 * decode gets a fresh worker so memory a decoder grew is returned when it exits.
 */
export interface DecodeWorkerOptions {
  /** CommonJS source run with `workerData`; it posts exactly one message. */
  source: string
  workerData: unknown
  timeoutMs: number
  /** The worker's JavaScript heap; image buffers live outside it. */
  heapMb: number
  /** Aborting terminates the worker and rejects with the signal's reason. */
  signal?: AbortSignal | undefined
}

export type DecodeWorkerOutcome<Message> = { kind: 'message'; message: Message } | { kind: 'failed'; reason: string }

export function runDecodeWorker<Message>(options: DecodeWorkerOptions): Promise<DecodeWorkerOutcome<Message>> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(options.signal.reason)
      return
    }
    const worker = new Worker(options.source, {
      eval: true,
      // The source is CommonJS whatever flags started the process (--input-type=module would make it ESM).
      execArgv: [],
      workerData: options.workerData,
      resourceLimits: { maxOldGenerationSizeMb: options.heapMb },
    })
    let settled = false
    const settle = (): boolean => {
      if (settled) return false
      settled = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      void worker.terminate()
      return true
    }
    const finish = (outcome: DecodeWorkerOutcome<Message>): void => {
      if (settle()) resolve(outcome)
    }
    const onAbort = (): void => {
      if (settle()) reject(options.signal!.reason)
    }
    const seconds = options.timeoutMs / 1000
    const timer = setTimeout(
      () => finish({ kind: 'failed', reason: `decoding took longer than ${seconds >= 1 ? `${Math.round(seconds)} s` : `${options.timeoutMs} ms`}` }),
      options.timeoutMs,
    )
    options.signal?.addEventListener('abort', onAbort, { once: true })
    worker.once('message', (message: Message) => finish({ kind: 'message', message }))
    worker.once('error', (error) => finish({ kind: 'failed', reason: error.message.split('\n')[0]!.slice(0, 120) }))
    worker.once('exit', (code) => finish({ kind: 'failed', reason: `the decoder stopped (exit code ${code})` }))
  })
}
