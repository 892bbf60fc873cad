import type { FastifyReply } from 'fastify'
import { ClientClosedRequestError } from '../errors.js'

/**
 * Aborted when the client goes away before the response is complete, so its generation
 * stops and its engine slot frees. The response's 'close' fires when the connection drops
 * (or after a full reply); not the request's, which Node emits once the body is read.
 */
export function clientDisconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new ClientClosedRequestError())
  })
  return controller.signal
}
