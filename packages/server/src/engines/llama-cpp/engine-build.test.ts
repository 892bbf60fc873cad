import { describe, expect, it } from 'vitest'
import { cmakeFlags } from './engine-build.js'

describe('cmakeFlags', () => {
  it('builds natively for this CPU, with CUDA only for the cuda flavor', () => {
    expect(cmakeFlags('cpu', {})).toContain('-DGGML_NATIVE=ON')
    expect(cmakeFlags('cpu', {})).not.toContain('-DGGML_CUDA=ON')
    expect(cmakeFlags('cuda', {})).toContain('-DGGML_CUDA=ON')
  })

  it('passes CUDAARCHS on as the CUDA architectures, for builds without a GPU to detect (an image build)', () => {
    expect(cmakeFlags('cuda', { CUDAARCHS: '75;80;86' })).toContain('-DCMAKE_CUDA_ARCHITECTURES=75;80;86')
    expect(cmakeFlags('cuda', {}).some((flag) => flag.startsWith('-DCMAKE_CUDA_ARCHITECTURES'))).toBe(false)
    expect(cmakeFlags('cpu', { CUDAARCHS: '75;80;86' }).some((flag) => flag.startsWith('-DCMAKE_CUDA_ARCHITECTURES'))).toBe(false)
  })

  it("keeps ggml's AMX kernels out of x64 builds (they crash on the first prompt) and adds no x86 flag elsewhere", () => {
    for (const flavor of ['cpu', 'cuda'] as const) {
      const flags = cmakeFlags(flavor, {}, 'x64')
      for (const language of ['C', 'CXX']) {
        const value = flags.find((flag) => flag.startsWith(`-DCMAKE_${language}_FLAGS=`))
        expect(value?.split('=')[1]?.split(' ')).toEqual(['-mno-amx-tile', '-mno-amx-int8', '-mno-amx-bf16'])
      }
    }
    expect(cmakeFlags('cpu', {}, 'arm64').some((flag) => flag.includes('amx'))).toBe(false)
  })
})
