/**
 * `visto chat [IMAGE…]`: a multi-turn conversation in the terminal. Lines are questions;
 * `/image PATH` attaches an image to the next question, `/reset` starts over, `/exit`
 * quits. Reads stdin line by line, so it also works piped (`printf … | visto chat`).
 */
import { createInterface } from 'node:readline'
import { clientFrom, checkImagePaths, commonHelp, describeError, isUnreachable, parse, toCliError } from '../args.js'
import { ExitCode } from '../cli-error.js'
import type { Command } from '../cli.js'
import { styler } from '../output.js'
import { samplingFrom, samplingHelp, samplingOptions } from '../sampling-flags.js'

const help = `Usage: visto chat [IMAGE…] [options]

An interactive conversation. Images given here are attached to the first message.
Commands:
  /image PATH…   attach images to the next message
  /reset         forget the conversation (and pending images)
  /exit          quit (so do Ctrl-D and /quit)
  /help          this list

Options:
  --no-stream    print each answer only when it is complete
${samplingHelp}

${commonHelp}`

const commandsHelp = '/image PATH… attach · /reset start over · /exit quit'

/** `/image a.png "my photo.jpg"`: whitespace-separated, double quotes for spaces. */
function splitPaths(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!)
}

const command: Command = {
  summary: 'multi-turn chat about images in the terminal',
  async run(argv) {
    const { values, positionals } = parse(argv, {
      'no-stream': { type: 'boolean', default: false },
      ...samplingOptions,
    })
    if (values.help) {
      process.stdout.write(`${help}\n`)
      return ExitCode.Ok
    }
    await checkImagePaths(positionals)
    const client = clientFrom(values)
    const conversation = client.conversation({
      ...samplingFrom(values),
      ...(values.system ? { system: values.system } : {}),
    })
    const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true
    const out = styler(process.stdout)
    const err = styler(process.stderr)
    const note = (text: string) => process.stderr.write(`${err.dim(text)}\n`)
    const problem = (text: string) => process.stderr.write(`${err.red(text)}\n`)

    try {
      if (positionals.length > 0) await conversation.attach(positionals)
    } catch (error) {
      throw toCliError(error, client.baseURL)
    }

    const rl = createInterface({ input: process.stdin, ...(interactive ? { output: process.stdout, terminal: true } : { terminal: false }) })
    if (interactive) {
      note(`visto chat with ${client.model} at ${client.baseURL} · ${commandsHelp}`)
      if (positionals.length > 0) note(`${positionals.length} image(s) attached to your first message`)
      rl.setPrompt(out.bold('you › '))
      rl.prompt()
    }

    let failures = 0
    let successes = 0
    let unreachable = 0
    // An in-progress answer is cancelled by Ctrl-C; at the prompt, Ctrl-C quits.
    let inFlight: AbortController | undefined
    rl.on('SIGINT', () => {
      if (inFlight) inFlight.abort()
      else rl.close()
    })

    for await (const raw of rl) {
      const line = raw.trim()
      if (line === '') {
        if (interactive) rl.prompt()
        continue
      }
      if (line.startsWith('/')) {
        const [name = '', ...rest] = line.slice(1).split(/\s+/)
        const argText = line.slice(1 + name.length).trim()
        if (name === 'exit' || name === 'quit') break
        if (name === 'reset') {
          conversation.reset()
          note('conversation reset')
        } else if (name === 'image') {
          const paths = splitPaths(argText)
          if (paths.length === 0 && rest.length === 0) problem('usage: /image PATH…')
          for (const path of paths) {
            try {
              await conversation.attach(path)
              note(`attached ${path} (${conversation.pendingImages} pending for your next message)`)
            } catch (error) {
              problem(describeError(error))
            }
          }
        } else if (name === 'help') note(commandsHelp)
        else problem(`unknown command /${name} (${commandsHelp})`)
        if (interactive) rl.prompt()
        continue
      }

      inFlight = new AbortController()
      const stream = !values['no-stream']
      if (interactive) process.stdout.write(out.cyan('visto › '))
      try {
        const result = await conversation.send(line, {
          signal: inFlight.signal,
          ...(stream ? { onToken: (text: string) => void process.stdout.write(text) } : {}),
        })
        process.stdout.write(stream ? '\n' : `${result.text}\n`)
        if (result.truncated) note('(answer cut off at max_tokens; raise --max-tokens)')
        successes++
      } catch (error) {
        if (stream) process.stdout.write('\n')
        failures++
        if (isUnreachable(error)) {
          unreachable++
          problem(toCliError(error, client.baseURL).message)
        } else problem(describeError(error))
      } finally {
        inFlight = undefined
      }
      if (interactive) rl.prompt()
    }
    rl.close()
    if (failures === 0) return ExitCode.Ok
    return successes === 0 && unreachable === failures ? ExitCode.Unreachable : ExitCode.Failure
  },
}
export default command
