import { describe, expect, it } from 'vitest'

import { chooseMmproj, chooseModel, matchesQuant, modelCandidates } from './gguf-file-choice.js'
import { AmbiguousModelError, ModelNotFoundError } from './model-errors.js'

const hubSelector = { preferDefaultQuant: true, where: 'repo x', howToPick: '--model x:QUANT' }

describe('matchesQuant', () => {
  it('matches the quant as a whole word in a file or folder name, in any case', () => {
    expect(matchesQuant('Qwen3VL-4B-Instruct-Q4_K_M.gguf', 'Q4_K_M')).toBe(true)
    expect(matchesQuant('qwen3vl-4b-instruct-q4_k_m.gguf', 'Q4_K_M')).toBe(true)
    expect(matchesQuant('Q4_K_M/model-00001-of-00002.gguf', 'Q4_K_M')).toBe(true)
    expect(matchesQuant('model.Q8_0.gguf', 'q8_0')).toBe(true)
  })

  it('does not match a longer quant that merely contains it', () => {
    expect(matchesQuant('model-IQ4_K_M.gguf', 'Q4_K_M')).toBe(false)
    expect(matchesQuant('model-Q4_K_M_L.gguf', 'Q4_K_M')).toBe(false)
    expect(matchesQuant('model-Q4_0_4_4.gguf', 'Q4_0')).toBe(false)
    expect(matchesQuant('model-BF16.gguf', 'F16')).toBe(false)
  })
})

describe('chooseModel', () => {
  const files = ['m-Q4_K_M.gguf', 'm-Q8_0.gguf', 'mmproj-m-f16.gguf', 'README.md', 'm.safetensors']

  it('picks the file of the asked quant, ignoring mmproj and non-GGUF files', () => {
    expect(chooseModel(files, { ...hubSelector, tag: 'Q8_0' }).files).toEqual(['m-Q8_0.gguf'])
  })

  it('picks an exact file name given as the tag', () => {
    expect(chooseModel(['a/m-Q8_0.gguf', 'm-Q4_K_M.gguf'], { ...hubSelector, tag: 'm-Q8_0.gguf' }).files).toEqual(['a/m-Q8_0.gguf'])
  })

  it('falls back to Q4_K_M for a hub spec without a quant, and refuses to guess for a folder', () => {
    expect(chooseModel(files, hubSelector).files).toEqual(['m-Q4_K_M.gguf'])
    expect(() => chooseModel(files, { ...hubSelector, preferDefaultQuant: false })).toThrow(AmbiguousModelError)
  })

  it('takes the only model when there is just one, whatever its quant', () => {
    expect(chooseModel(['m-F16.gguf', 'mmproj.gguf'], hubSelector).files).toEqual(['m-F16.gguf'])
  })

  it('joins the parts of a split model in order and notices missing parts', () => {
    const [candidate] = modelCandidates(['big-00002-of-00003.gguf', 'big-00001-of-00003.gguf'])
    expect(candidate).toEqual({ files: ['big-00001-of-00003.gguf', 'big-00002-of-00003.gguf'], expectedParts: 3 })
  })

  it('explains an empty or mmproj-only repository', () => {
    expect(() => chooseModel(['mmproj-f16.gguf', 'README.md'], hubSelector)).toThrow(ModelNotFoundError)
    expect(() => chooseModel(['mmproj-f16.gguf'], hubSelector)).toThrow('There is no model .gguf file in repo x')
  })
})

describe('chooseMmproj', () => {
  it('prefers F16, then BF16, F32 and Q8_0', () => {
    expect(chooseMmproj(['mmproj-F32.gguf', 'mmproj-F16.gguf', 'mmproj-Q8_0.gguf'], 'x')).toBe('mmproj-F16.gguf')
    expect(chooseMmproj(['mmproj-F32.gguf', 'mmproj-BF16.gguf'], 'x')).toBe('mmproj-BF16.gguf')
    expect(chooseMmproj(['mmproj-Q8_0.gguf', 'model.gguf'], 'x')).toBe('mmproj-Q8_0.gguf')
  })

  it('returns undefined when there is no mmproj and refuses to guess between equals', () => {
    expect(chooseMmproj(['model.gguf'], 'x')).toBeUndefined()
    expect(() => chooseMmproj(['a-mmproj-f16.gguf', 'b-mmproj-f16.gguf'], 'x')).toThrow(AmbiguousModelError)
  })
})
