/**
 * Sends a request, trying again (at most twice) when it failed without any response
 * and `canRetry` agrees. llama-server closes the connection after every streamed
 * response while advertising keep-alive, so fetch's pool sometimes hands out a socket
 * that is already dead; such a request never reached the engine, so sending it again
 * is safe.
 */
export async function fetchOnceMore(send: () => Promise<Response>, canRetry: () => boolean, onRetry?: (error: unknown) => void): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send()
    } catch (error) {
      if (attempt >= 2 || !canRetry()) throw error
      onRetry?.(error)
    }
  }
}
