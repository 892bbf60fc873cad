import { describe, expect, it } from 'vitest'
import { reportedImageCacheBytes } from './openai-upstream-engine.js'

describe('the embedding cache size an engine elsewhere reports', () => {
  it('reads llama-server’s own gauge (Visto’s build, with --metrics)', () => {
    const text = [
      '# HELP llamacpp:image_cache_bytes Bytes of image embeddings held by the image cache',
      'llamacpp:image_cache_bytes 61440',
      '# TYPE llamacpp:image_cache_capacity_bytes gauge',
      'llamacpp:image_cache_capacity_bytes 268435456',
    ].join('\n')
    expect(reportedImageCacheBytes(text)).toBe(268435456)
  })

  it('adds up a Visto’s engines, labelled by upstream', () => {
    const text = [
      'visto_engine_llamacpp_image_cache_capacity_bytes{upstream="replica-0"} 1073741824',
      'visto_engine_llamacpp_image_cache_capacity_bytes{upstream="replica-1"} 1073741824',
      'visto_engine_llamacpp_image_cache_bytes{upstream="replica-0"} 5',
    ].join('\n')
    expect(reportedImageCacheBytes(text)).toBe(2147483648)
  })

  it('finds nothing where no cache is reported (vLLM, a stock llama-server), and a cache that is off as 0', () => {
    expect(reportedImageCacheBytes('vllm:num_requests_running{model_name="m"} 0\nllamacpp:prompt_tokens_total 12\n')).toBeUndefined()
    expect(reportedImageCacheBytes('llamacpp:image_cache_capacity_bytes 0\n')).toBe(0)
  })
})
