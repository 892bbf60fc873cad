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
