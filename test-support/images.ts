import sharp from 'sharp'

/** A deterministic colourful test picture (gradient plus a block), encoded as asked. */
export async function testImage(width: number, height: number, format: 'jpeg' | 'png' = 'jpeg'): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3
      const inBlock = x > width / 4 && x < width / 2 && y > height / 4 && y < height / 2
      pixels[i] = inBlock ? 250 : Math.round((x / width) * 255)
      pixels[i + 1] = inBlock ? 30 : Math.round((y / height) * 255)
      pixels[i + 2] = 128
    }
  }
  const image = sharp(pixels, { raw: { width, height, channels: 3 } })
  return format === 'jpeg' ? image.jpeg({ quality: 90 }).toBuffer() : image.png().toBuffer()
}

export function dataUrl(bytes: Buffer, mime = 'image/jpeg'): string {
  return `data:${mime};base64,${bytes.toString('base64')}`
}

/** What Python's json.dumps writes by default: ASCII-only, ", " and ": " separators. */
export function pythonJsonDumps(value: unknown): string {
  const escape = (s: string): string => JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  const dump = (v: unknown): string => {
    if (v === null) return 'null'
    if (typeof v === 'string') return escape(v)
    if (typeof v === 'number' || typeof v === 'boolean') return String(v)
    if (Array.isArray(v)) return `[${v.map(dump).join(', ')}]`
    return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${escape(k)}: ${dump(x)}`).join(', ')}}`
  }
  return dump(value)
}
