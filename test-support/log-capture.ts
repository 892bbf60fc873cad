import { Writable } from 'node:stream'

export interface LogLine {
  level: number
  msg?: string
  [key: string]: unknown
}

/** A fastify logger option that keeps every JSON log line, for asserting what was logged and at which level. */
export function captureLog(level = 'info'): { logger: { level: string; stream: Writable }; lines: LogLine[] } {
  const lines: LogLine[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.trim()) lines.push(JSON.parse(text) as LogLine)
      callback()
    },
  })
  return { logger: { level, stream }, lines }
}

/** pino's numeric levels. */
export const LogLevel = { debug: 20, info: 30, warn: 40, error: 50 } as const
