// @ts-check
// What the page shows when the server refuses a request.

/** The server answers errors as {"error": {"message", ...}}; fall back to the raw text. @param {Response} response */
export async function errorMessage(response) {
  const text = await response.text().catch(() => '')
  try {
    const message = JSON.parse(text)?.error?.message
    if (typeof message === 'string' && message) return message
  } catch {
    // Not JSON (a proxy's HTML page, say): show it as it came.
  }
  return text.trim().slice(0, 500) || `HTTP ${response.status} ${response.statusText}`
}
