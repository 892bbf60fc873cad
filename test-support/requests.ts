/**
 * The request a typical vision client sends: "describe the scene in this picture in
 * detail" (in Chinese, as Qwen3-VL's users often ask), one image, max_tokens 1024,
 * temperature 0.3. `extra` overrides or adds fields.
 */
export function describeSceneRequest<Extra extends object = object>(imageUrl: string, extra?: Extra) {
  return {
    model: 'qwen3-vl-4b-instruct',
    messages: [
      {
        role: 'user' as const,
        content: [
          { type: 'text' as const, text: '请详细描述这张图片中的场景' },
          { type: 'image_url' as const, image_url: { url: imageUrl } },
        ],
      },
    ],
    max_tokens: 1024,
    temperature: 0.3,
    ...(extra as Extra),
  }
}

export type FormPart = { name: string; value: string } | { name: string; filename: string; data: Buffer; type?: string }

/** A multipart/form-data body as curl -F writes it, with its content-type header (for app.inject). */
export function multipartForm(parts: readonly FormPart[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = '----visto-test-boundary-7MA4YWxkTrZu0gW'
  const chunks: Buffer[] = []
  for (const part of parts) {
    if ('data' in part) {
      chunks.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\nContent-Type: ${part.type ?? 'application/octet-stream'}\r\n\r\n`,
        ),
      )
      chunks.push(part.data, Buffer.from('\r\n'))
    } else {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`))
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}
