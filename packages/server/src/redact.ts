/**
 * Credentials written into a URL (`http://user:pass@host/v1`) must never reach a
 * response or a log line. Works on any text, so a message that quotes a URL anywhere
 * (an engine state, an error, a settings line) is cleaned the same way.
 */

// The authority ends at the first / ? # \ or whitespace; the userinfo is everything up
// to the last @ before that, which is how WHATWG URL parsing splits a raw `p@ss`.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#\\]*@/gi

/** The text with the userinfo of every URL in it removed. */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO, '$1')
}

/**
 * Splits a URL with userinfo into the URL without it and a Basic authorization header
 * value, since fetch refuses URLs that carry credentials.
 */
export function splitUrlCredentials(url: string): { url: string; basicAuth: string | undefined } {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return { url, basicAuth: undefined }
  }
  if (parsed.username === '' && parsed.password === '') return { url, basicAuth: undefined }
  const user = decodeURIComponent(parsed.username)
  const password = decodeURIComponent(parsed.password)
  parsed.username = ''
  parsed.password = ''
  return { url: parsed.href, basicAuth: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` }
}
