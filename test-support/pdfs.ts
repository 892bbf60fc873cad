import { constants as zlibConstants, deflateRawSync } from 'node:zlib'
import { PDFDocument, rgb, StandardFonts } from 'pdf-lib'
import sharp from 'sharp'

/**
 * PDFs made in code for tests: well-formed ones through pdf-lib, hostile ones through
 * `rawPdf`, a writer that produces exactly the objects it is given (with a correct
 * cross-reference table, so the reader gets past the parser to the part under test).
 */

/** One line of big text per page ("Page 1", "Page 2", ...), US Letter unless told. */
export async function textPdf(pages: number, options: { size?: [number, number]; text?: (page: number) => string } = {}): Promise<Buffer> {
  const doc = await PDFDocument.create()
  const font = await doc.embedFont(StandardFonts.Helvetica)
  const [width, height] = options.size ?? [612, 792]
  for (let i = 1; i <= pages; i++) {
    const page = doc.addPage([width, height])
    const text = options.text?.(i) ?? `Page ${i}`
    page.drawText(text, { x: width * 0.1, y: height * 0.8, size: Math.max(6, Math.min(48, width / 10)), font, color: rgb(0, 0, 0) })
    for (let line = 0; line < 30 && height * 0.7 - line * 14 > 20; line++) {
      page.drawText(`Line ${line + 1} of the text on page ${i}: the quick brown fox jumps over the lazy dog.`, { x: width * 0.1, y: height * 0.7 - line * 14, size: 10, font })
    }
  }
  return Buffer.from(await doc.save())
}

/** Pages that are each one photo-like JPEG, as a scanner writes them (A4 at 150 dpi). */
export async function scannedPdf(pages: number): Promise<Buffer> {
  const doc = await PDFDocument.create()
  const width = 1240
  const height = 1754
  for (let i = 1; i <= pages; i++) {
    const pixels = Buffer.alloc(width * height * 3)
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 3
        const paper = 235 + ((x * 7 + y * 13 + i) % 17)
        const ink = y % 40 < 6 && x > 100 && x < width - 100 && (x >> 4) % 5 !== 0 ? 40 : paper
        pixels[o] = ink
        pixels[o + 1] = ink
        pixels[o + 2] = Math.min(255, ink + 5)
      }
    }
    const jpeg = await sharp(pixels, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 80 })
      .toBuffer()
    const image = await doc.embedJpg(jpeg)
    const page = doc.addPage([595, 842])
    page.drawImage(image, { x: 0, y: 0, width: 595, height: 842 })
  }
  return Buffer.from(await doc.save())
}

/**
 * A zlib stream of `chunk` repeated `times` times, without compressing it that often:
 * a full flush leaves byte-aligned blocks that need no earlier data, so one compressed
 * chunk can be repeated. The checksum is left wrong on purpose (readers that check it
 * only find out at the end, after inflating everything).
 */
function repeatedDeflate(chunk: Buffer, times: number): Buffer {
  const block = deflateRawSync(chunk, { level: 9, finishFlush: zlibConstants.Z_FULL_FLUSH })
  return Buffer.concat([Buffer.from([0x78, 0xda]), ...Array.from({ length: times }, () => block), Buffer.from([0x03, 0x00, 0, 0, 0, 0])])
}

export type RawObject = string | { dict: string; stream: Buffer }

/** Objects numbered from 1 in the order given; object 1 must be the catalog. */
export function rawPdf(objects: RawObject[], options: { trailerExtra?: string } = {}): Buffer {
  const chunks: Buffer[] = [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')]
  let length = chunks[0]!.length
  const offsets: number[] = []
  objects.forEach((object, i) => {
    offsets.push(length)
    const body =
      typeof object === 'string'
        ? Buffer.from(`${i + 1} 0 obj\n${object}\nendobj\n`, 'latin1')
        : Buffer.concat([
            Buffer.from(`${i + 1} 0 obj\n<< ${object.dict} /Length ${object.stream.length} >>\nstream\n`, 'latin1'),
            object.stream,
            Buffer.from('\nendstream\nendobj\n', 'latin1'),
          ])
    chunks.push(body)
    length += body.length
  })
  const xref = [`xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`, ...offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`)].join('')
  chunks.push(Buffer.from(`${xref}trailer\n<< /Size ${objects.length + 1} /Root 1 0 R ${options.trailerExtra ?? ''} >>\nstartxref\n${length}\n%%EOF\n`, 'latin1'))
  return Buffer.concat(chunks)
}

/** A page tree of one page with the given media box and content. */
function onePage(
  mediaBox: string,
  content = 'BT /F1 24 Tf 72 700 Td (Hello) Tj ET',
  resources = '/Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >>',
): RawObject[] {
  return [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox ${mediaBox} /Resources << ${resources} >> /Contents 4 0 R >>`,
    { dict: '', stream: Buffer.from(content, 'latin1') },
  ]
}

/** Hostile and broken PDFs, each with the reason it exists. */
export const hostilePdfs = {
  /** Standard security handler whose user password is not empty: needs a password to open. */
  encrypted: (): Buffer =>
    rawPdf([...onePage('[0 0 612 792]'), `<< /Filter /Standard /V 2 /R 3 /Length 128 /P -4 /O <${'ab'.repeat(32)}> /U <${'cd'.repeat(32)}> >>`], {
      trailerExtra: '/Encrypt 5 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>]',
    }),
  /** A header, then nothing a reader can use. */
  malformed: (): Buffer => Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(2048, 0x41), Buffer.from('\n%%EOF\n')]),
  /** A valid document whose page tree is empty. */
  zeroPages: (): Buffer => rawPdf(['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [] /Count 0 >>']),
  /** A page the size of a football pitch (200 x 200 inches): harmless, rendered at the budget. */
  hugePage: (): Buffer => rawPdf(onePage('[0 0 14400 14400]')),
  /** A 14400 x 10 pt strip: an aspect ratio the model refuses. */
  thinStrip: (): Buffer => rawPdf(onePage('[0 0 14400 10]')),
  /** 50,000 nested arrays in the page dictionary: parser recursion. */
  deepNesting: (): Buffer =>
    rawPdf(
      onePage('[0 0 612 792]').map((o, i) =>
        i === 2 ? `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Deep ${'['.repeat(50_000)}${']'.repeat(50_000)} /Contents 4 0 R >>` : o,
      ),
    ),
  /** A page tree that is a 3000-deep chain of /Pages nodes with one page at the bottom. */
  deepPageTree: (): Buffer => {
    const depth = 3000
    const objects: RawObject[] = ['<< /Type /Catalog /Pages 2 0 R >>']
    for (let level = 0; level < depth; level++) {
      const self = level + 2
      const parent = level === 0 ? '' : `/Parent ${self - 1} 0 R`
      objects.push(`<< /Type /Pages ${parent} /Kids [${self + 1} 0 R] /Count 1 >>`)
    }
    objects.push(`<< /Type /Page /Parent ${depth + 1} 0 R /MediaBox [0 0 612 792] >>`)
    return rawPdf(objects)
  },
  /** A page tree that lists its own root as a kid. */
  cyclicPageTree: (): Buffer =>
    rawPdf(['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>', '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>']),
  /** 5000 pages (one page object listed 5000 times): refused from the count, nothing rendered. */
  thousandsOfPages: (): Buffer => {
    const kids = Array.from({ length: 5000 }, () => '3 0 R').join(' ')
    return rawPdf(['<< /Type /Catalog /Pages 2 0 R >>', `<< /Type /Pages /Kids [${kids}] /Count 5000 >>`, '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>'])
  },
  /** A 16000 x 16000 RGB image (768 MB decoded) that deflates to under 1 MB: a decompression bomb. */
  imageBomb: (): Buffer => {
    const side = 16_000
    const stream = repeatedDeflate(Buffer.alloc(side * 3 * 100, 0xff), side / 100)
    return rawPdf(
      onePage('[0 0 612 792]', 'q 612 0 0 792 0 0 cm /Im1 Do Q', '/XObject << /Im1 5 0 R >>').concat([
        { dict: `/Type /XObject /Subtype /Image /Width ${side} /Height ${side} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode`, stream },
      ]),
    )
  },
  /** Document JavaScript that would run on open in a viewer with a JavaScript engine. */
  withJavaScript: (): Buffer =>
    rawPdf([
      '<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R /Names << /JavaScript << /Names [(a) 5 0 R] >> >> >>',
      ...onePage('[0 0 612 792]').slice(1),
      '<< /S /JavaScript /JS (app.alert("hi"); while(true){}) >>',
    ]),
}

export function pdfDataUrl(bytes: Buffer): string {
  return `data:application/pdf;base64,${bytes.toString('base64')}`
}
