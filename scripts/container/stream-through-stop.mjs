// SIGTERM during a streamed request: starts a long streamed generation against the
// container, sends the container SIGTERM (`podman stop`) once tokens are flowing, reads the
// stream to its end, and checks that it ended cleanly (the whole answer, or an error event,
// then [DONE]) and that the container exited 0 within the drain time.
// Usage: node stream-through-stop.mjs BASE_URL CONTAINER DRAIN_SECONDS
import { spawn, spawnSync } from 'node:child_process'

const [baseUrl, container, drainArg] = process.argv.slice(2)
const drainSeconds = Number(drainArg)
const podman = (args) => spawnSync('podman', ['--runtime', 'runc', ...args], { encoding: 'utf8' })
const fail = (message) => {
  console.error(`stream-through-stop: ${message}`)
  process.exit(1)
}

// A 1x1 PNG: an image part like every real request, the answer's length set by max_tokens.
const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC'
const response = await fetch(`${baseUrl}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    model: 'qwen3-vl-4b-instruct',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Describe.' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
        ],
      },
    ],
    max_tokens: 800,
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
  }),
})
if (response.status !== 200) fail(`the stream answered ${response.status}: ${await response.text()}`)
const reader = response.body.getReader()
const decoder = new TextDecoder()
let text = decoder.decode((await reader.read()).value, { stream: true })

const stopStarted = Date.now()
const stop = new Promise((resolve) => {
  const child = spawn('podman', ['--runtime', 'runc', 'stop', '--time', String(drainSeconds + 30), container], { stdio: 'ignore' })
  child.on('close', () => resolve((Date.now() - stopStarted) / 1000))
})
let streamError
try {
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true })
} catch (error) {
  streamError = error
}
const streamSeconds = (Date.now() - stopStarted) / 1000
const stopSeconds = await stop
const exitCode = podman(['inspect', '--format', '{{.State.ExitCode}}', container]).stdout.trim()
const events = text.split('\n\n').filter((event) => event.startsWith('data: '))
const usage = events.filter((event) => event.includes('"usage":{')).map((event) => JSON.parse(event.slice(6)).usage)
const errors = events.filter((event) => event.startsWith('data: {"error"'))
const summary = {
  stream_ended_after_s: streamSeconds,
  container_stopped_after_s: stopSeconds,
  exit_code: exitCode,
  ended_with_done: text.trimEnd().endsWith('data: [DONE]'),
  completion_tokens: usage.at(-1)?.completion_tokens,
  error_events: errors.length,
  read_error: streamError ? String(streamError) : undefined,
}
console.log(`stream-through-stop: ${JSON.stringify(summary)}`)
if (streamError) fail('the stream broke instead of ending')
if (!summary.ended_with_done) fail(`the stream did not end with [DONE]:\n${text.slice(-400)}`)
if (errors.length === 0 && summary.completion_tokens !== 800) fail('the answer was cut without an error event')
if (exitCode !== '0') fail(`the container exited ${exitCode}, not 0`)
if (stopSeconds > drainSeconds + 10) fail(`stopping took ${stopSeconds} s, more than the ${drainSeconds} s drain`)
const logs = podman(['logs', container])
if (!`${logs.stdout}${logs.stderr}`.includes('SIGTERM: draining in-flight requests')) fail('the log does not show the drain')
