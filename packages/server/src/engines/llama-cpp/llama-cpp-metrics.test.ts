import { describe, expect, it } from 'vitest'
import { prefixLlamaCppMetrics } from './llama-cpp-metrics.js'

describe('prefixLlamaCppMetrics', () => {
  it("renames llama-server's llamacpp: metrics in samples, HELP and TYPE lines, and nothing else", () => {
    const exposition = [
      '# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.',
      '# TYPE llamacpp:prompt_tokens_total counter',
      'llamacpp:prompt_tokens_total 1372',
      '# HELP llamacpp:requests_processing Number of requests processing.',
      '# TYPE llamacpp:requests_processing gauge',
      'llamacpp:requests_processing 1',
      'other_metric{label="llamacpp:x"} 2',
    ].join('\n')
    expect(prefixLlamaCppMetrics(exposition)).toBe(
      [
        '# HELP visto_engine_llamacpp_prompt_tokens_total Number of prompt tokens processed.',
        '# TYPE visto_engine_llamacpp_prompt_tokens_total counter',
        'visto_engine_llamacpp_prompt_tokens_total 1372',
        '# HELP visto_engine_llamacpp_requests_processing Number of requests processing.',
        '# TYPE visto_engine_llamacpp_requests_processing gauge',
        'visto_engine_llamacpp_requests_processing 1',
        'other_metric{label="llamacpp:x"} 2',
        '',
      ].join('\n'),
    )
  })
})
