import { execFile } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import type { Browser, BrowserContext, BrowserContextOptions, FileChooser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { EngineUnavailableError } from '../packages/server/src/errors.js'
import { testImage } from '@visto/testkit/images/test-images'
import { endless, type ScriptedEngine, words } from '../test-support/scripted-engine.js'
import { composeServer } from '../packages/server/src/compose.js'
import { serveConfig } from '../packages/server/src/config.js'
import { exportedCode, startScriptedSite, watchCspViolations, type ScriptedSite } from '../test-support/scripted-site.js'
import { scratchDirInRepo } from '../test-support/paths.js'

// The page's languages, answers, code export, cost figures, keyboard use and phone
// layout, against a scripted engine so the answers are known in advance. The generated
// code is run for real (python3, bash + curl, node + openai) against this server.
// VISTO_SCREENSHOT_DIR=docs keeps pictures of the page in both languages.

const run = promisify(execFile)

let browser: Browser
let baseURL: string
let engine: ScriptedEngine
let context: BrowserContext
let page: Page
/** Content-Security-Policy violations reported by the page since it was opened (reloads included). */
let cspViolations: string[] = []
/** What GET /v1/visto/stats reports; undefined = the route is missing (an older server). */
let promptSpeed: number | null | undefined

let site: ScriptedSite
beforeAll(async () => {
  site = await startScriptedSite({ parallel: 1, 'max-queue': 4, 'max-images': 4, 'body-limit-mb': 32 })
  ;({ engine, baseURL, browser } = site)
})

afterAll(async () => {
  await site?.close()
})

async function open(options: BrowserContextOptions = {}): Promise<Page> {
  await context?.close()
  context = await browser.newContext({ locale: 'en-US', ...options })
  // The server's real stats, with the prompt speed set by the test (a scripted engine has
  // none worth estimating from), or a 404 as from a server without the route.
  await context.route('**/v1/visto/stats', async (route) => {
    if (promptSpeed === undefined) {
      return route.fulfill({ status: 404, json: { error: { message: 'No route for GET /v1/visto/stats', type: 'not_found_error', param: null, code: 'unknown_route' } } })
    }
    // The page polls the stats; a poll still in flight when the next test closes this
    // context finds its response disposed, which is no failure of the page.
    try {
      const response = await route.fetch()
      return await route.fulfill({ response, json: { ...(await response.json()), prompt_tokens_per_second: promptSpeed } })
    } catch (error) {
      if (/disposed|closed/i.test(String(error))) return
      throw error
    }
  })
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL })
  // Every test here runs the page under the server's strict policy and fails on any violation.
  cspViolations = await watchCspViolations(context)
  page = await context.newPage()
  await page.goto(baseURL)
  return page
}

beforeEach(async () => {
  engine.script = words(['Hello', ' world'])
  engine.currentState = { status: 'ready' }
  engine.requests.length = 0
  promptSpeed = undefined
})

afterEach(async () => {
  expect(cspViolations).toEqual([])
  await context?.close()
})

const ui = { timeout: 15_000 }
const answer = (turn: number, name = 'Answer') => page.getByRole('listitem', { name: `${name} ${turn}` })
const question = () => page.locator('#question')
const attached = () => page.locator('#attachments')

async function finished(turn: number, name = 'Answer'): Promise<void> {
  await expect.poll(() => answer(turn, name).getAttribute('aria-busy'), ui).toBe('false')
}

async function attach(name: string, buffer: Buffer, mimeType = name.endsWith('.png') ? 'image/png' : 'image/jpeg'): Promise<void> {
  await page.locator('#file-input').setInputFiles({ name, mimeType, buffer })
  await attached().getByRole('img', { name }).last().waitFor()
}

/** The markdown an answer is made of: a bit of everything, and markup that must stay text. */
const markdownAnswer = [
  '# Findings',
  '',
  'The image shows **a red square** and *a gradient*. <script>window.__injected = 1</script>',
  '<img src=x onerror="window.__injected = 2">',
  '',
  '- first item',
  '- second with `inline code`',
  '  1. nested one',
  '',
  '| colour | share |',
  '| --- | ---: |',
  '| red | 25% |',
  '',
  '```python',
  'print("<b>not bold</b>")',
  '```',
  '',
  '[a link](javascript:alert(1)) and [a real one](https://example.com/)',
].join('\n')

describe('languages', () => {
  it('shows a zh-CN browser the Chinese page and an en-US one the English page, every string from its table', async () => {
    await open({ locale: 'zh-CN' })
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN')
    await page.getByRole('button', { name: '发送' }).waitFor()
    expect(await question().getAttribute('placeholder')).toBe('请详细描述这张图片中的场景')
    expect(await page.getByRole('status', { name: '服务状态' }).count()).toBe(1)
    // The tables have the same keys, and every static string on the page comes from the current one.
    const check = await page.evaluate(`(async () => {
      const { en, zh } = await import('/ui/i18n.js')
      const missing = Object.keys(en).filter((k) => !(k in zh)).concat(Object.keys(zh).filter((k) => !(k in en)))
      const wrong = [...document.querySelectorAll('[data-i18n]')].filter((e) => e.textContent !== zh[e.dataset.i18n]).map((e) => e.dataset.i18n)
      const wrongLabels = [...document.querySelectorAll('[data-i18n-aria-label]:not([data-i18n-values])')]
        .filter((e) => e.getAttribute('aria-label') !== zh[e.dataset.i18nAriaLabel]).map((e) => e.dataset.i18nAriaLabel)
      return { missing, wrong: wrong.concat(wrongLabels) }
    })()`)
    expect(check).toEqual({ missing: [], wrong: [] })
    // Strings built by the script too.
    await question().fill('你好')
    await question().press('Enter')
    await finished(1, '回答')
    expect(await answer(1, '回答').getByLabel('回答统计').textContent()).toMatch(/^\d+\.\d+ 秒 · 首个 token \d+\.\d+ 秒 · 提示 20 \+ 生成 2 = 22 个 token/)

    await open({ locale: 'en-US' })
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('en')
    await page.getByRole('button', { name: 'Send' }).waitFor()
    expect(await question().getAttribute('placeholder')).toBe('Describe the scene in this image in detail')
  })

  it('remembers the language chosen in the header across a reload', async () => {
    await open({ locale: 'en-US' })
    await question().fill('Hi')
    await question().press('Enter')
    await finished(1)
    await page.getByRole('combobox', { name: 'Language' }).selectOption('zh')
    await page.getByRole('button', { name: '发送' }).waitFor()
    // What is already on screen changes language too.
    expect(await answer(1, '回答').count()).toBe(1)
    expect(await page.getByRole('listitem', { name: '问题 1' }).count()).toBe(1)
    expect(await page.getByRole('status', { name: '服务状态' }).textContent()).toBe('就绪')
    await page.reload()
    await page.getByRole('button', { name: '发送' }).waitFor()
    expect(await page.getByRole('combobox', { name: '语言' }).inputValue()).toBe('zh')
    await page.getByRole('combobox', { name: '语言' }).selectOption('en')
    await page.reload()
    await page.getByRole('button', { name: 'Send' }).waitFor()
  })

  it('is served with the strict policy these tests hold the page to', async () => {
    const policy = (await fetch(baseURL)).headers.get('content-security-policy') ?? ''
    expect(policy).toMatch(/^default-src 'self'; .*script-src 'self' 'sha256-[A-Za-z0-9+/=]+'; /)
    expect(policy).not.toContain('unsafe')
  })

  it('uses a font stack with a CJK face for Windows, macOS and Linux', async () => {
    await open({ locale: 'zh-CN' })
    const family = await page.evaluate(() => getComputedStyle(document.body).fontFamily)
    for (const face of ['Microsoft YaHei', 'PingFang SC', 'Noto Sans CJK SC']) expect(family).toContain(face)
    // Chinese text renders with a real CJK font here (Debian's fonts-noto-cjk), not boxes.
    const fonts = await page.evaluate(async () => {
      await document.fonts.ready
      return document.fonts.check('16px "Noto Sans CJK SC"', '请详细描述')
    })
    expect(fonts).toBe(true)
  })
})

describe('answers', () => {
  it('renders Markdown as elements and shows HTML from the model as text', async () => {
    engine.script = words([markdownAnswer])
    await open()
    await question().fill('Describe it')
    await question().press('Enter')
    await finished(1)
    const text = answer(1).locator('.text')
    expect(await text.locator('h1').textContent()).toBe('Findings')
    expect(await text.locator('strong').first().textContent()).toBe('a red square')
    expect(await text.locator('ul > li').count()).toBe(2)
    expect(await text.locator('ul ol > li').textContent()).toBe('nested one')
    expect(await text.locator('table td').allTextContents()).toEqual(['red', '25%'])
    expect(await text.locator('pre code').textContent()).toBe('print("<b>not bold</b>")')
    // The markup arrived as text, and nothing ran.
    expect(await text.locator('script, img, b, [onerror]').count()).toBe(0)
    expect(await text.textContent()).toContain('<script>window.__injected = 1</script>')
    expect(await text.textContent()).toContain('<img src=x onerror="window.__injected = 2">')
    expect(await page.evaluate(() => (window as unknown as { __injected?: number }).__injected)).toBeUndefined()
    // Only safe links become links.
    expect(await text.locator('a').evaluateAll((links) => links.map((a) => a.getAttribute('href')))).toEqual(['https://example.com/'])

    await text.getByRole('button', { name: 'Copy code' }).click()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('print("<b>not bold</b>")')
  })

  it('renders the Markdown that models write into the expected elements', async () => {
    await open()
    const cases: Array<[string, string]> = [
      ['## Title ##', '<h2>Title</h2>'],
      ['a *b* **c** ~~d~~ `e` snake_case_name', '<p>a <em>b</em> <strong>c</strong> <del>d</del> <code>e</code> snake_case_name</p>'],
      ['line one\nline two', '<p>line one<br>line two</p>'],
      ['3. three\n4. four', '<ol start="3"><li>three</li><li>four</li></ol>'],
      ['- a\n  - b\n- c', '<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>'],
      ['> quoted\n> more', '<blockquote><p>quoted<br>more</p></blockquote>'],
      ['---', '<hr>'],
      ['\\*not em\\*', '<p>*not em*</p>'],
      [
        '| a |\n|:-:|\n| 1 |',
        '<div class="table-scroll"><table><thead><tr><th data-align="center">a</th></tr></thead><tbody><tr><td data-align="center">1</td></tr></tbody></table></div>',
      ],
      // A fence still streaming in is already a code block.
      ['```js\nlet x = "<b>"', '<pre><code>let x = "&lt;b&gt;"</code></pre>'],
      ['<b>bold?</b> & <i>', '<p>&lt;b&gt;bold?&lt;/b&gt; &amp; &lt;i&gt;</p>'],
      ['[x](data:text/html,<script>alert(1)</script>)', '<p>[x](data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;)</p>'],
    ]
    // Serialising is the test's business; the renderer itself never touches HTML strings.
    const rendered = await page.evaluate(`(async () => {
      const { renderMarkdown } = await import('/ui/markdown.js')
      return ${JSON.stringify(cases.map(([md]) => md))}.map((md) => {
        const box = document.createElement('div')
        box.append(renderMarkdown(md))
        return box.innerHTML
      })
    })()`)
    expect(rendered).toEqual(cases.map(([, html]) => html))
  })

  it('OCR asks for the text in the attached image and shows it in a monospaced block that copies', async () => {
    engine.script = words(['INVOICE 42\n', 'Total: 9.90 €'])
    await open()
    await attach('receipt.png', await testImage(64, 48, 'png'))
    await page.getByRole('button', { name: 'OCR' }).click()
    await finished(1)
    const sent = engine.requests[0]!.messages[0]!.content
    expect(sent[0]).toEqual({ type: 'text', text: 'Read out all the text in this image exactly as written, line by line. Output only the text.' })
    expect(sent.filter((part) => part.type === 'image')).toHaveLength(1)
    const block = answer(1).locator('.ocr-block pre')
    expect(await block.textContent()).toBe('INVOICE 42\nTotal: 9.90 €')
    expect(await block.evaluate((pre) => getComputedStyle(pre).fontFamily)).toMatch(/monospace/)
    await answer(1).getByRole('button', { name: 'Copy text' }).click()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('INVOICE 42\nTotal: 9.90 €')
  })

  it('shows a server error next to the question that caused it, with a Retry that sends it again', async () => {
    let calls = 0
    engine.script = async function* (request, signal) {
      if (calls++ === 0) throw new EngineUnavailableError('The model process crashed; it is restarting.', { code: 'engine_crashed' })
      yield* words(['Fine', ' now.'])(request, signal)
    }
    await open()
    await attach('scene.png', await testImage(32, 32, 'png'))
    await question().fill('Describe it')
    await question().press('Enter')
    const alert = answer(1).getByRole('alert')
    await expect.poll(() => alert.textContent(), ui).toBe('The model process crashed; it is restarting.')
    // The failed question and its image are handed back to the composer…
    expect(await question().inputValue()).toBe('Describe it')
    expect(await attached().getByRole('img').count()).toBe(1)
    // …and Retry resends exactly that, taking them out of the composer again.
    await answer(1).getByRole('button', { name: 'Retry' }).click()
    await finished(2)
    expect(await answer(2).locator('.text').textContent()).toBe('Fine now.')
    expect(await question().inputValue()).toBe('')
    expect(await attached().getByRole('img').count()).toBe(0)
    const retried = engine.requests[1]!.messages
    expect(retried).toHaveLength(1)
    expect(retried[0]!.content.map((part) => part.type)).toEqual(['text', 'image'])
  })
})

describe('what an image costs, before sending', () => {
  it('shows the size after resizing and the prompt tokens of a 4000×3000 photo per detail level, and sends the chosen detail', async () => {
    await open()
    await attach('photo.jpg', await testImage(4000, 3000))
    const cost = attached().locator('.cost')
    await expect.poll(() => cost.textContent(), ui).toBe('1152×864 · 974 tokens')
    const detail = attached().getByRole('combobox', { name: 'Detail for photo.jpg' })
    await detail.selectOption('low')
    await expect.poll(() => cost.textContent(), ui).toBe('576×416 · 236 tokens')
    await detail.selectOption('high')
    await expect.poll(() => cost.textContent(), ui).toBe('1760×1312 · 2257 tokens')
    await detail.selectOption('low')
    await page.getByRole('button', { name: 'Send' }).click()
    await finished(1)
    const image = engine.requests[0]!.messages[0]!.content.find((part) => part.type === 'image')
    expect(image).toMatchObject({ image: { width: 576, height: 416 } })
  })

  it('estimates the time to the first token from the server’s prompt speed and shows the real one next to it', async () => {
    promptSpeed = 100
    await open()
    await attach('photo.jpg', await testImage(1024, 768))
    const estimate = page.getByLabel('Estimated wait')
    // 768 image tokens + 2 markers, and the default question: 42 characters / 4 + 10.
    await expect.poll(() => estimate.textContent(), ui).toBe('Time to first token ≈ 7.91 s (791 prompt tokens at 100.0 tokens/s)')
    await page.getByRole('button', { name: 'Send' }).click()
    await finished(1)
    expect(await answer(1).getByLabel('Answer statistics').textContent()).toMatch(/ · first token \d+\.\d+ s \(estimated 7\.91 s\) · /)
  })

  it('shows no estimate when the server has no prompt speed to report, or no stats endpoint', async () => {
    for (const speed of [null, undefined]) {
      promptSpeed = speed
      await open()
      await attach('photo.jpg', await testImage(64, 64))
      await expect.poll(() => attached().locator('.cost').textContent(), ui).toBe('96×96 · 11 tokens')
      expect(await page.getByLabel('Estimated wait').isHidden()).toBe(true)
      await question().press('Enter')
      await finished(1)
      expect(await answer(1).getByLabel('Answer statistics').textContent()).not.toContain('estimated')
    }
  })

  it('shows the original size when the server gives no figure, and asks again once the API key is entered', async () => {
    const { app: guarded } = await composeServer(serveConfig({ parallel: 1, 'max-queue': 4, 'api-key': 'sk-visto-test' }), { engine })
    try {
      context = await browser.newContext({ locale: 'en-US' })
      page = await context.newPage()
      await page.goto(await guarded.listen({ port: 0, host: '127.0.0.1' }))
      await attach('photo.jpg', await testImage(2000, 1500))
      await expect.poll(() => attached().locator('.cost').textContent(), ui).toBe('2000×1500')
      await page.getByLabel('API key').fill('sk-visto-test')
      await page.getByLabel('API key').press('Tab')
      await expect.poll(() => attached().locator('.cost').textContent(), ui).toBe('1152×864 · 974 tokens')
    } finally {
      await guarded.close()
    }
  })

  it('says before sending that the server will refuse an image too elongated to use', async () => {
    await open()
    await attach('strip.png', await testImage(4200, 20, 'png'))
    await expect.poll(() => attached().locator('.cost').textContent(), ui).toBe('refused: 4200x20 has an aspect ratio of 210:1; the model accepts at most 200:1')
  })
})

describe('copy as code', () => {
  let dir: string
  beforeEach(() => {
    // Inside the repository, so the JavaScript snippet resolves the installed `openai`.
    dir = scratchDirInRepo('visto-code-')
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('gives the conversation with an image as Python, curl and JavaScript that run against the server and get its answer', async () => {
    const photo = await testImage(48, 32, 'png')
    await open()
    await page.getByLabel('Temperature').fill('0.7')
    await page.getByLabel('Max tokens').fill('64')
    // A name with a space and a quote: each language must quote it its own way.
    await attach("Bob's square.png", photo)
    engine.script = words(['A red', ' square.'])
    await question().fill('What is "this"? Say $HOME `now`')
    await question().press('Enter')
    await finished(1)
    engine.script = words(['Red.'])
    await question().fill('颜色？')
    await question().press('Enter')
    await finished(2)

    // What the page itself sent for the last answer; the programs must send the same.
    const seen = (request: (typeof engine.requests)[number]) =>
      request.messages.map((m) => [
        m.role,
        ...m.content.map((part) => (part.type === 'text' ? part.text : `image ${part.image.width}x${part.image.height} ${part.image.data.length} bytes`)),
      ])
    const pageRequest = engine.requests[1]!
    expect(seen(pageRequest)).toEqual([
      ['user', 'What is "this"? Say $HOME `now`', `image 128x96 ${pageRequest.messages[0]!.content.find((p) => p.type === 'image')!.image.data.length} bytes`],
      ['assistant', 'A red square.'],
      ['user', '颜色？'],
    ])

    const python = await exportedCode(page, 'Python')
    expect(python).toContain('import requests')
    expect(python).toContain('with open("Bob\'s square.png", "rb") as image_file:')
    expect(python).toContain('"url": f"data:image/png;base64,{base64_image}"')
    expect(python).toContain(`api_url = "${baseURL}/v1/chat/completions"`)
    expect(python).toContain('headers = {"Content-Type": "application/json"}')
    expect(python).toContain('response = requests.post(api_url, headers=headers, data=json.dumps(payload))')
    expect(python).toContain('"max_tokens": 64,\n    "temperature": 0.7')
    expect(python).not.toMatch(/[A-Za-z0-9+/]{200}/)
    const curl = await exportedCode(page, 'curl')
    const javascript = await exportedCode(page, 'JavaScript')
    expect(javascript).toContain("import OpenAI from 'openai'")
    expect(javascript).toContain("fs.readFileSync('Bob\\'s square.png').toString('base64')")
    expect(curl).toContain("IMAGE_1=$(base64 < 'Bob'\\''s square.png' | tr -d '\\n')")

    writeFileSync(path.join(dir, "Bob's square.png"), photo)
    writeFileSync(path.join(dir, 'ask.py'), python)
    writeFileSync(path.join(dir, 'ask.sh'), curl)
    writeFileSync(path.join(dir, 'ask.mjs'), javascript)
    for (const [command, args, expected] of [
      ['python3', ['ask.py'], '模型回答: Red.\n'],
      ['node', ['ask.mjs'], 'Red.\n'],
    ] as const) {
      engine.script = words(['Red.'])
      engine.requests.length = 0
      const { stdout } = await run(command, [...args], { cwd: dir, timeout: 60_000 })
      expect(stdout).toBe(expected)
      // The program sent the same conversation as the page: same texts, same image, same settings.
      expect(seen(engine.requests[0]!)).toEqual(seen(pageRequest))
      expect(engine.requests[0]!.sampling).toMatchObject({ temperature: 0.7, maxTokens: 64 })
    }
    engine.script = words(['Red.'])
    engine.requests.length = 0
    const { stdout } = await run('bash', ['ask.sh'], { cwd: dir, timeout: 60_000 })
    expect(JSON.parse(stdout).choices[0].message.content).toBe('Red.')
    expect(seen(engine.requests[0]!)).toEqual(seen(pageRequest))
  })

  it('gives the same conversation for the Responses API (openai JavaScript and Python clients, curl): the program sends what the page sent', async () => {
    const photo = await testImage(48, 32, 'png')
    await open()
    await page.getByLabel('Max tokens').fill('64')
    await attach('square.png', photo)
    engine.script = words(['A red', ' square.'])
    await question().fill('What is this?')
    await question().press('Enter')
    await finished(1)
    engine.script = words(['Red.'])
    await question().fill('Which colour?')
    await question().press('Enter')
    await finished(2)
    const seen = (request: (typeof engine.requests)[number]) =>
      request.messages.map((m) => [
        m.role,
        ...m.content.map((part) => (part.type === 'text' ? part.text : `image ${part.image.width}x${part.image.height} ${part.image.data.length} bytes`)),
      ])
    const pageRequest = engine.requests[1]!

    await exportedCode(page, 'JavaScript')
    await page.getByRole('combobox', { name: 'Which API the code calls' }).selectOption('responses')
    const javascript = (await page.locator('#code-text').textContent()) ?? ''
    expect(javascript).toContain('await client.responses.create({')
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the exported JavaScript itself holds this template literal
    expect(javascript).toContain("{ type: 'input_image', image_url: `data:image/png;base64,${image}` }")
    expect(javascript).toContain('console.log(response.output_text)')
    const python = await exportedCode(page, 'Python')
    expect(python).toContain('from openai import OpenAI')
    expect(python).toContain('response = client.responses.create(')
    expect(python).toContain('    max_output_tokens=64,')
    expect(python).toContain('"image_url": f"data:image/png;base64,{base64_image}"')
    const curl = await exportedCode(page, 'curl')
    expect(curl).toContain(`curl ${baseURL}/v1/responses`)

    writeFileSync(path.join(dir, 'square.png'), photo)
    writeFileSync(path.join(dir, 'ask.mjs'), javascript)
    writeFileSync(path.join(dir, 'ask.py'), python)
    writeFileSync(path.join(dir, 'ask.sh'), curl)
    // The openai Python package may be missing here: the Python must at least parse.
    await run('python3', ['-c', 'import ast, sys; ast.parse(open("ask.py").read())'], { cwd: dir, timeout: 60_000 })
    engine.script = words(['Red.'])
    engine.requests.length = 0
    const { stdout } = await run('node', ['ask.mjs'], { cwd: dir, timeout: 60_000 })
    expect(stdout).toBe('Red.\n')
    expect(seen(engine.requests[0]!)).toEqual(seen(pageRequest))
    expect(engine.requests[0]!.sampling).toMatchObject({ maxTokens: 64 })
    engine.script = words(['Red.'])
    engine.requests.length = 0
    const shell = await run('bash', ['ask.sh'], { cwd: dir, timeout: 60_000 })
    expect(JSON.parse(shell.stdout).output[0].content[0].text).toBe('Red.')
    expect(seen(engine.requests[0]!)).toEqual(seen(pageRequest))
    // Back to chat completions: the dialog remembers the API until it is changed.
    await page.getByRole('combobox', { name: 'Which API the code calls' }).selectOption('chat')
    expect(await exportedCode(page, 'Python')).toContain('import requests')
  })

  it('gives the conversation as Anthropic SDK code that runs against the server’s /v1/messages and gets its answer', async () => {
    const photo = await testImage(48, 32, 'png')
    await open()
    await page.getByLabel('Temperature').fill('0.3')
    await page.getByLabel('Max tokens').fill('48')
    await attach("Ann's photo.png", photo)
    engine.script = words(['A photo.'])
    await question().fill('What is "this"?')
    await question().press('Enter')
    await finished(1)
    engine.script = words(['Blue.'])
    await question().fill('Colour?')
    await question().press('Enter')
    await finished(2)
    const seen = (request: (typeof engine.requests)[number]) =>
      request.messages.map((m) => [
        m.role,
        ...m.content.map((part) => (part.type === 'text' ? part.text : `image ${part.image.width}x${part.image.height} ${part.image.data.length} bytes`)),
      ])
    const pageRequest = engine.requests[1]!

    const code = await exportedCode(page, 'Anthropic SDK')
    expect(code).toContain("import Anthropic from '@anthropic-ai/sdk'")
    expect(code).toContain(`new Anthropic({ baseURL: '${baseURL}', apiKey: 'unused' })`)
    expect(code).toContain("fs.readFileSync('Ann\\'s photo.png').toString('base64')")
    expect(code).toContain("source: { type: 'base64', media_type: 'image/png', data: image }")
    expect(code).not.toMatch(/[A-Za-z0-9+/]{200}/)

    writeFileSync(path.join(dir, "Ann's photo.png"), photo)
    writeFileSync(path.join(dir, 'ask-anthropic.mjs'), code)
    engine.script = words(['Blue.'])
    engine.requests.length = 0
    const { stdout } = await run('node', ['ask-anthropic.mjs'], { cwd: dir, timeout: 60_000 })
    expect(stdout).toBe('Blue.\n')
    // The program sent the same conversation as the page, through the Messages API.
    expect(seen(engine.requests[0]!)).toEqual(seen(pageRequest))
    expect(engine.requests[0]!.sampling).toMatchObject({ temperature: 0.3, maxTokens: 48 })
  })

  it('uses the current settings and what is in the composer, and keeps the API key out of the code', async () => {
    await open()
    await page.getByLabel('Max tokens').fill('200')
    await page.getByLabel('API key').fill('sk-secret-value')
    await page.getByLabel('API key').press('Tab')
    await attach('a.png', await testImage(16, 16, 'png'))
    await attach('a.png', await testImage(24, 16, 'png'))
    await attached().getByRole('combobox', { name: 'Detail for a.png' }).first().selectOption('high')
    const python = await exportedCode(page, 'Python')
    expect(python).toContain('"max_tokens": 200')
    expect(python).toContain('with open("a.png", "rb")')
    expect(python).toContain('with open("a-2.png", "rb")')
    expect(python).toContain('"detail": "high"')
    expect(python).toContain('os.environ["VISTO_API_KEY"]')
    expect(python).not.toContain('sk-secret-value')
    expect(python).toContain('"text": "Describe the scene in this image in detail"')
  })
})

describe('everyone can use it', () => {
  /** Presses Tab until the focused element matches `selector`; fails if it never does. */
  async function tabTo(selector: string): Promise<void> {
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab')
      if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return
    }
    throw new Error(`Tab never reached ${selector}`)
  }

  async function openFileChooserByKeyboard(): Promise<FileChooser> {
    for (let attempt = 1; ; attempt++) {
      await tabTo('#file-input')
      const chooser = page.waitForEvent('filechooser', { timeout: 5_000 })
      await page.keyboard.press('Space')
      try {
        return await chooser
      } catch (error) {
        if (attempt === 3) throw error
      }
    }
  }

  it('works with the keyboard alone: attach, ask, read the answer, stop, copy', async () => {
    engine.script = words(['```\n', 'x = 1\n', '```'])
    await open()
    // The page may still be settling (a health poll re-rendering the tray moves focus) on a
    // loaded machine: tab to the picker and press Space again until the chooser opens.
    const chooser = await openFileChooserByKeyboard()
    await chooser.setFiles({ name: 'scene.png', mimeType: 'image/png', buffer: await testImage(32, 32, 'png') })
    await attached().getByRole('img', { name: 'scene.png' }).waitFor()
    await tabTo('#question')
    await page.keyboard.type('Show code')
    await page.keyboard.press('Enter')
    await finished(1)
    await tabTo('#messages .copy')
    await page.keyboard.press('Enter')
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('x = 1')

    engine.script = endless(30)
    await tabTo('#question')
    await page.keyboard.type('Count')
    await page.keyboard.press('Enter')
    await expect.poll(() => answer(2).locator('.text').textContent(), ui).toMatch(/^x+$/)
    await tabTo('#stop')
    await page.keyboard.press('Enter')
    await expect.poll(() => answer(2).getByLabel('Answer statistics').textContent(), ui).toContain('stopped')
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('question')

    await tabTo('#show-code')
    await page.keyboard.press('Enter')
    await tabTo('#copy-code')
    await page.keyboard.press('Enter')
    expect(await page.evaluate(() => navigator.clipboard.readText())).toContain('with open("scene.png", "rb") as image_file:')
    await page.keyboard.press('Escape')
    expect(await page.getByRole('dialog').isVisible()).toBe(false)
  })

  it('labels every control for screen readers', async () => {
    await open()
    await attach('scene.png', await testImage(32, 32, 'png'))
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('button, input, select, textarea')]
        .filter((e) => !(e as HTMLElement).hidden && (e as HTMLElement).getClientRects().length > 0)
        .filter((e) => {
          const labelled = e.getAttribute('aria-label') || (e as HTMLInputElement).labels?.length || e.textContent?.trim()
          return !labelled
        })
        .map((e) => e.outerHTML.slice(0, 80)),
    )
    expect(unlabelled).toEqual([])
  })

  it('fits a 390 px wide phone screen without horizontal scrolling', async () => {
    engine.script = words([`${markdownAnswer}\n\n\`\`\`\n${'a_very_long_line_of_code_'.repeat(20)}\n\`\`\`\n\n${'averyveryverylongwordwithoutanyspaces'.repeat(8)}`])
    await open({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(await overflow()).toBe(0)
    await attach('photo.jpg', await testImage(400, 300))
    await attach('second.jpg', await testImage(300, 400))
    await question().fill('Describe it')
    await question().press('Enter')
    await finished(1)
    if (process.env.VISTO_PHONE_SHOT) await page.screenshot({ path: `${process.env.VISTO_PHONE_SHOT}.png` })
    expect(await overflow()).toBe(0)
    // Nothing sticks out of the page box either (overflow hidden would hide the problem, not fix it).
    const wide = await page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((e) => !e.closest('pre, .table-scroll, dialog') && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map((e) => `${e.tagName}.${e.className}`),
    )
    expect(wide).toEqual([])
    await page.getByRole('button', { name: 'Code for this conversation' }).click()
    expect(await overflow()).toBe(0)
    if (process.env.VISTO_PHONE_SHOT) await page.screenshot({ path: `${process.env.VISTO_PHONE_SHOT}-dialog.png` })
    const dialog = await page.getByRole('dialog').boundingBox()
    expect(dialog!.x).toBeGreaterThanOrEqual(0)
    expect(dialog!.x + dialog!.width).toBeLessThanOrEqual(390)
  })
})

describe('screenshots', () => {
  it.runIf(process.env.VISTO_SCREENSHOT_DIR)('pictures the page in English and Chinese', async () => {
    const dir = process.env.VISTO_SCREENSHOT_DIR!
    for (const [locale, file, ask, reply] of [
      [
        'en-US',
        'webui-en.png',
        'What is in this picture? Give a table.',
        '## A red square on a gradient\n\nThe picture shows:\n\n- a **red square** in the upper left\n- a gradient from *green* to *purple*\n\n| element | colour |\n| --- | --- |\n| square | red |\n| background | gradient |\n\n```python\nprint("hello")\n```',
      ],
      [
        'zh-CN',
        'webui-zh.png',
        '请详细描述这张图片中的场景',
        '## 渐变背景上的红色方块\n\n图片中有：\n\n- 左上方一个**红色方块**\n- 从*绿色*到*紫色*的渐变背景\n\n| 元素 | 颜色 |\n| --- | --- |\n| 方块 | 红色 |\n| 背景 | 渐变 |',
      ],
    ] as const) {
      // Timed like a CPU (about 500 prompt tokens/s on this image) so the figures read true.
      promptSpeed = 500
      engine.script = async function* (request, signal) {
        await new Promise((resolve) => setTimeout(resolve, 1500))
        yield* words([reply], 'stop', 798)(request, signal)
      }
      await open({ locale, viewport: { width: 1200, height: 820 } })
      await attach('photo.jpg', await testImage(1600, 1200))
      await question().fill(ask)
      await question().press('Enter')
      await finished(1, locale === 'zh-CN' ? '回答' : 'Answer')
      await attach('receipt.png', await testImage(800, 1000, 'png'))
      await page.screenshot({ path: path.join(dir, file) })
    }
  })
})
