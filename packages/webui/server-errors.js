// @ts-check
// What the page shows when the server refuses a request: the message of its OpenAI-style
// error envelope, read by the SDK's parser as for every other client.

import { errorFromResponse } from '@visto/sdk'

/**
 * The server's message for an error response; a body that is no envelope (a proxy's
 * HTML page, say) is shown as it came.
 * @param {Response} response
 */
export async function errorMessage(response) {
  const text = await response.text().catch(() => '')
  const error = errorFromResponse(response.status, response.headers, text)
  return error.body?.message || text.trim().slice(0, 500) || `HTTP ${response.status} ${response.statusText}`
}
