/** Sampling flags shared by ask, batch, chat and ocr. */
import type { SamplingOptions } from '@visto/sdk'
import { numberFlag } from './args.js'

export const samplingOptions = {
  'max-tokens': { type: 'string' },
  temperature: { type: 'string', short: 't' },
  system: { type: 'string' },
} as const

export const samplingHelp = `  --max-tokens N     answer length limit (default 1024)
  -t, --temperature T  0–2 (default 0.3)
  --system TEXT      system message`

export function samplingFrom(values: { 'max-tokens'?: string | undefined; temperature?: string | undefined }): SamplingOptions {
  const sampling: SamplingOptions = {}
  const maxTokens = numberFlag(values['max-tokens'], 'max-tokens', { min: 1, integer: true })
  if (maxTokens !== undefined) sampling.maxTokens = maxTokens
  const temperature = numberFlag(values.temperature, 'temperature', { min: 0, max: 2 })
  if (temperature !== undefined) sampling.temperature = temperature
  return sampling
}
