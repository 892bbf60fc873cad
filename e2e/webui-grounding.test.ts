import type { BrowserContext, BrowserContextOptions, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { groundingPrompt } from '@visto/protocol'
import { jpeg, testImage } from '@visto/testkit/images/test-images'
import { type ScriptedEngine, words } from '../test-support/scripted-engine.js'
import { startScriptedSite, watchCspViolations, type ScriptedSite } from '../test-support/scripted-site.js'

// Boxes and points in an answer, drawn on the page over the image they are about: where
// the coordinates say (measured from the DOM) on an EXIF-rotated photo, on a desktop and a
// phone, after a resize and under object-fit; labelled and coloured per label, with a
// toggle and hover linking each box to its text; and Find, which asks for them.
// VISTO_GROUNDING_SHOT=/tmp/shot keeps pictures of the desktop and phone pages.

let site: ScriptedSite
let engine: ScriptedEngine
let context: BrowserContext
let page: Page
let cspViolations: string[] = []

beforeAll(async () => {
  site = await startScriptedSite({ parallel: 1, 'max-queue': 4, 'max-images': 4 })
  engine = site.engine
})

afterAll(async () => {
  await site?.close()
})

beforeEach(() => {
  engine.requests.length = 0
})

afterEach(async () => {
  // The overlay is placed through the CSSOM only: the strict policy must see no violation.
  expect(cspViolations).toEqual([])
  await context?.close()
})

async function open(options: BrowserContextOptions = {}): Promise<Page> {
  await context?.close()
  context = await site.browser.newContext({ locale: 'en-US', viewport: { width: 1200, height: 900 }, ...options })
  cspViolations = await watchCspViolations(context)
  page = await context.newPage()
  await page.goto(site.baseURL)
  return page
}

const ui = { timeout: 15_000 }
const answer = (turn: number, name = 'Answer') => page.getByRole('listitem', { name: `${name} ${turn}` })

async function finished(turn: number, name = 'Answer'): Promise<void> {
  await expect.poll(() => answer(turn, name).getAttribute('aria-busy'), ui).toBe('false')
}

async function attach(name: string, buffer: Buffer): Promise<void> {
  await page.locator('#file-input').setInputFiles({ name, mimeType: 'image/jpeg', buffer })
  await page.locator('#attachments').getByRole('img', { name }).last().waitFor()
}

/** Stored 600×1200 with EXIF orientation 6: shown upright it is 1200×600, landscape. */
const rotatedPhoto = () => jpeg(600, 1200, { orientation: 6 })
const UPRIGHT = { width: 1200, height: 600 }

/** Qwen3-VL's answer shape: a box and a point on its 0–1000 scale, in a json fence, streamed in pieces. */
function groundingAnswer(box: string, point: string): string[] {
  return ['Here is what I found:\n\n```json\n[\n', `  {"bbox_2d": [100, 200, 500, 800], "label": "${box}"},\n`, `  {"point_2d": [750, 250], "label": "${point}"}\n`, ']\n```\n']
}

interface Measured {
  image: { width: number; height: number }
  box: { left: number; top: number; width: number; height: number }
  point: { x: number; y: number }
  /** The picture as drawn inside the image element (object-fit), relative to the element. */
  drawn: { left: number; top: number; width: number; height: number }
}

/** The overlay's box and point, relative to the image element, from getBoundingClientRect. */
async function measure(turn = 1, name = 'Answer'): Promise<Measured> {
  return answer(turn, name)
    .locator('figure.grounding')
    .evaluate((figure, upright) => {
      const img = figure.querySelector('img')!.getBoundingClientRect()
      const box = figure.querySelector('.grounding-box')!.getBoundingClientRect()
      const point = figure.querySelector('.grounding-point')!.getBoundingClientRect()
      // With object-fit the picture is letterboxed inside the element; without, it fills it.
      const fit = getComputedStyle(figure.querySelector('img')!).objectFit
      const scale = fit === 'contain' ? Math.min(img.width / upright.width, img.height / upright.height) : NaN
      const drawn = Number.isNaN(scale)
        ? { left: 0, top: 0, width: img.width, height: img.height }
        : { left: (img.width - upright.width * scale) / 2, top: (img.height - upright.height * scale) / 2, width: upright.width * scale, height: upright.height * scale }
      return {
        image: { width: img.width, height: img.height },
        box: { left: box.left - img.left, top: box.top - img.top, width: box.width, height: box.height },
        point: { x: point.left + point.width / 2 - img.left, y: point.top + point.height / 2 - img.top },
        drawn,
      }
    }, UPRIGHT)
}

/** The box at [100, 200, 500, 800] and the point at [750, 250], × drawn size / 1000, within 1.5 px. */
function expectWhereTheCoordinatesSay({ box, point, drawn }: Measured): void {
  const near = (actual: number, expected: number) => expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(1.5)
  near(box.left, drawn.left + (100 * drawn.width) / 1000)
  near(box.top, drawn.top + (200 * drawn.height) / 1000)
  near(box.width, (400 * drawn.width) / 1000)
  near(box.height, (600 * drawn.height) / 1000)
  near(point.x, drawn.left + (750 * drawn.width) / 1000)
  near(point.y, drawn.top + (250 * drawn.height) / 1000)
}

const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)

describe('boxes and points drawn on the image', () => {
  it('places them where the coordinates say on an EXIF-rotated photo, and keeps them there on resize and under object-fit', async () => {
    engine.script = words(groundingAnswer('cat', 'dog'))
    await open()
    await attach('rotated.jpg', await rotatedPhoto())
    await page.locator('#question').fill('Where are the cat and the dog?')
    await page.locator('#question').press('Enter')
    await finished(1)
    const figure = answer(1).locator('figure.grounding')
    await figure.locator('.grounding-box').waitFor()

    if (process.env.VISTO_GROUNDING_SHOT) await page.screenshot({ path: `${process.env.VISTO_GROUNDING_SHOT}.png` })
    const desktop = await measure()
    // Upright: the stored portrait shows as a 2:1 landscape.
    expect(desktop.image.width / desktop.image.height).toBeCloseTo(UPRIGHT.width / UPRIGHT.height, 1)
    expect(desktop.image.width).toBeGreaterThan(300)
    expectWhereTheCoordinatesSay(desktop)
    expect(await figure.locator('.grounding-box .grounding-label').textContent()).toBe('cat')
    expect(await figure.locator('.grounding-point .grounding-label').textContent()).toBe('dog')
    expect(await figure.locator('.grounding-box').getAttribute('title')).toBe('cat (120, 120) – (600, 480)')
    expect(await figure.getByRole('list', { name: 'Found in the image: 2' }).locator('li').allTextContents()).toEqual(['cat', 'dog'])
    // A colour per label: the box, its legend entry and its text share one; the point has another.
    const colours = await figure.evaluate((element) => {
      const colourOf = (selector: string) => getComputedStyle(element.closest('li')!.querySelector(selector)!).getPropertyValue('--colour')
      return { box: colourOf('.grounding-box'), point: colourOf('.grounding-point'), legend: colourOf('.grounding-legend li'), text: colourOf('.grounding-ref') }
    })
    expect(colours.box).toBe('#00e05a')
    expect(colours.legend).toBe(colours.box)
    expect(colours.text).toBe(colours.box)
    expect(colours.point).toBe('#ff2bd6')

    // Narrowed to a phone's width, the picture shrinks and the overlay follows it.
    await page.setViewportSize({ width: 375, height: 800 })
    await expect.poll(async () => (await measure()).image.width, ui).toBeLessThan(desktop.image.width - 50)
    await expect.poll(async () => expectWhereTheCoordinatesSay(await measure()), ui).toBeUndefined()
    expect(await overflow()).toBe(0)

    // A square box with object-fit: contain letterboxes the picture; the overlay sits on the picture, not the box.
    await figure.locator('img').evaluate((img: HTMLImageElement) => {
      img.style.objectFit = 'contain'
      img.style.width = '300px'
      img.style.height = '300px'
    })
    await expect.poll(async () => (await measure()).image.height, ui).toBeCloseTo(300, 0)
    const letterboxed = await measure()
    expect(letterboxed.drawn.top).toBeCloseTo(75, 0)
    await expect.poll(async () => expectWhereTheCoordinatesSay(await measure()), ui).toBeUndefined()
  })

  it('fits a 375 px phone, in Chinese: labels as the model wrote them, the toggle and legend in Chinese, retranslated on a switch', async () => {
    engine.script = words(groundingAnswer('猫', '狗'))
    await open({ locale: 'zh-CN', viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true })
    await attach('rotated.jpg', await rotatedPhoto())
    await page.locator('#question').fill('猫, 狗')
    await page.getByRole('button', { name: '查找' }).click()
    await finished(1, '回答')
    const figure = answer(1, '回答').locator('figure.grounding')
    await figure.locator('.grounding-box').waitFor()
    if (process.env.VISTO_GROUNDING_SHOT) await page.screenshot({ path: `${process.env.VISTO_GROUNDING_SHOT}-phone.png` })
    const phone = await measure(1, '回答')
    expect(phone.image.width / phone.image.height).toBeCloseTo(2, 1)
    expect(phone.image.width).toBeLessThanOrEqual(375)
    expectWhereTheCoordinatesSay(phone)
    expect(await overflow()).toBe(0)
    expect(await figure.locator('.grounding-label').allTextContents()).toEqual(['猫', '狗'])
    expect(await figure.getByRole('list', { name: '图中找到 2 个目标' }).locator('li').allTextContents()).toEqual(['猫', '狗'])
    const toggle = figure.getByRole('checkbox', { name: '显示标注' })
    expect(await toggle.isChecked()).toBe(true)
    await toggle.uncheck()
    expect(await figure.locator('.grounding-box').isVisible()).toBe(false)

    await page.locator('#language').selectOption('en')
    // The answer's own name is retranslated too.
    const english = answer(1).locator('figure.grounding')
    expect(await english.getByRole('checkbox', { name: 'Show boxes' }).isChecked()).toBe(false)
    expect(await english.getByRole('list', { name: 'Found in the image: 2' }).count()).toBe(1)
  })

  it('shows and hides them with the toggle, and hovering a box lights up its line of the answer and the other way round', async () => {
    engine.script = words(groundingAnswer('cat', 'dog'))
    await open()
    await attach('rotated.jpg', await rotatedPhoto())
    await page.locator('#question').fill('Where are they?')
    await page.locator('#question').press('Enter')
    await finished(1)
    const figure = answer(1).locator('figure.grounding')
    const box = figure.locator('.grounding-box')
    const point = figure.locator('.grounding-point')
    const toggle = figure.getByRole('checkbox', { name: 'Show boxes' })

    await toggle.uncheck()
    expect(await box.isVisible()).toBe(false)
    expect(await point.isVisible()).toBe(false)
    await toggle.check()
    expect(await box.isVisible()).toBe(true)
    expectWhereTheCoordinatesSay(await measure())

    // Each object's text in the answer is marked; the rest of the answer is not.
    const refs = answer(1).locator('.text .grounding-ref')
    expect(await refs.allTextContents()).toEqual(['{"bbox_2d": [100, 200, 500, 800], "label": "cat"}', '{"point_2d": [750, 250], "label": "dog"}'])
    expect(await answer(1).locator('.text pre').textContent()).toBe('[\n  {"bbox_2d": [100, 200, 500, 800], "label": "cat"},\n  {"point_2d": [750, 250], "label": "dog"}\n]')
    const active = () =>
      answer(1)
        .locator('.active')
        .evaluateAll((elements) => elements.map((e) => `${e.className.replace(' active', '')}:${e.textContent}`))

    await box.hover()
    expect(await active()).toEqual(['grounding-box:cat', 'grounding-ref:{"bbox_2d": [100, 200, 500, 800], "label": "cat"}'])
    const cat = refs.first()
    expect(await cat.evaluate((e) => getComputedStyle(e).backgroundColor)).not.toBe('rgba(0, 0, 0, 0)')
    await page.mouse.move(1, 1)
    expect(await active()).toEqual([])

    await refs.nth(1).hover()
    expect(await active()).toEqual(['grounding-point:dog', 'grounding-ref:{"point_2d": [750, 250], "label": "dog"}'])
    // The other marks step back while one is lit.
    expect(await box.evaluate((e) => getComputedStyle(e).opacity)).toBe('0.3')
    await page.mouse.move(1, 1)
    expect(await active()).toEqual([])

    // Copy still copies the answer as written, not the page's marks.
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: site.baseURL })
    await answer(1).getByRole('button', { name: 'Copy code' }).click()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('[\n  {"bbox_2d": [100, 200, 500, 800], "label": "cat"},\n  {"point_2d": [750, 250], "label": "dog"}\n]')
  })

  it('draws a follow-up’s boxes on the image asked about before, and none when the question held several images or the answer none', async () => {
    engine.script = words(['No boxes here, just words.'])
    await open()
    await attach('rotated.jpg', await rotatedPhoto())
    await page.locator('#question').fill('Describe it')
    await page.locator('#question').press('Enter')
    await finished(1)
    expect(await answer(1).locator('figure.grounding').count()).toBe(0)

    engine.script = words(groundingAnswer('cat', 'dog'))
    await page.locator('#question').fill('Now where is the cat?')
    await page.locator('#question').press('Enter')
    await finished(2)
    expectWhereTheCoordinatesSay(await measure(2))

    // Two images: the coordinates do not say which one they mean, so nothing is drawn.
    await attach('first.jpg', await testImage(64, 48))
    await attach('second.jpg', await testImage(48, 64))
    await page.locator('#question').fill('Where are they?')
    await page.locator('#question').press('Enter')
    await finished(3)
    expect(await answer(3).locator('figure.grounding').count()).toBe(0)
    expect(await answer(3).locator('.text pre').textContent()).toContain('"bbox_2d"')
  })
})

describe('Find', () => {
  it('asks with the grounding prompt for what the question box names, or for every object when it is empty', async () => {
    engine.script = words(groundingAnswer('cat', 'dog'))
    await open()
    await page.getByRole('button', { name: 'Find' }).click()
    expect(await page.locator('#notice').textContent()).toBe('Attach an image to find things in it.')
    expect(engine.requests).toHaveLength(0)

    await attach('rotated.jpg', await rotatedPhoto())
    await page.locator('#question').fill('cat, dog')
    await page.getByRole('button', { name: 'Find' }).click()
    await finished(1)
    const sent = engine.requests[0]!.messages[0]!.content
    expect(sent[0]).toEqual({ type: 'text', text: 'Locate every instance that belongs to the following categories: "cat, dog". Report bbox coordinates in JSON format.' })
    expect(sent[0]).toEqual({ type: 'text', text: groundingPrompt('cat, dog') })
    expect(sent.filter((part) => part.type === 'image')).toHaveLength(1)
    expect(await page.locator('#question').inputValue()).toBe('')
    expectWhereTheCoordinatesSay(await measure())

    await page.getByRole('button', { name: 'Find' }).click()
    await finished(2)
    expect(engine.requests[1]!.messages.at(-1)!.content[0]).toEqual({ type: 'text', text: 'Locate every object in the image. Report bbox coordinates in JSON format.' })
    // A follow-up Find is about the image already in the conversation.
    expectWhereTheCoordinatesSay(await measure(2))
  })
})
