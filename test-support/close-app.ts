import type { FastifyInstance } from 'fastify'

/**
 * Closes a test's server the way `visto serve` shuts down: stop listening, then cut the
 * connections still open. Without the cut, `app.close()` waits for every keep-alive socket
 * a client still holds (fetch keeps one idle for 4 s), which made each such test 4 s long.
 */
export async function closeApp(app: FastifyInstance | undefined): Promise<void> {
  if (!app) return
  const closing = app.close()
  app.server.closeAllConnections()
  await closing
}
