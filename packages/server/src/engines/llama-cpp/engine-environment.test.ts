import { describe, expect, it } from 'vitest'
import { engineEnvironment } from './engine-environment.js'

describe("llama-server's environment", () => {
  const inherited = {
    PATH: '/usr/bin',
    HOME: '/home/u',
    LANG: 'C.UTF-8',
    LD_LIBRARY_PATH: '/opt/cuda/lib64',
    CUDA_VISIBLE_DEVICES: '0',
    GGML_VK_VISIBLE_DEVICES: '1',
    OMP_NUM_THREADS: '4',
    HF_ENDPOINT: 'https://hf-mirror.com',
    LLAMA_ARG_THREADS: '8',
    SSH_AUTH_SOCK: '/tmp/agent.sock',
    VISTO_API_KEY: 'sk-visto',
    VISTO_UPSTREAM_API_KEY: 'sk-upstream',
    VISTO_PORT: '7860',
    visto_cache: '/cache',
    OPENAI_API_KEY: 'sk-openai',
    HF_TOKEN: 'hf_x',
    GITHUB_TOKEN: 'ghp_x',
    AWS_SECRET_ACCESS_KEY: 'aws',
    AWS_SESSION_TOKEN: 'aws',
    DB_PASSWORD: 'pw',
    CLIENT_SECRET: 's',
    GOOGLE_APPLICATION_CREDENTIALS: '/keys.json',
    LLAMA_API_KEY: 'someone elses',
    LLAMA_ARG_API_KEY: 'someone elses',
    'npm_config_//registry.npmjs.org/:_authToken': 'npm_x',
  }

  it('keeps what the engine and its GPU back ends read: PATH, HOME, locale, libraries, CUDA_*, GGML_*, OMP_*, LLAMA_* settings', () => {
    const env = engineEnvironment(inherited, {})
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/u',
      LANG: 'C.UTF-8',
      LD_LIBRARY_PATH: '/opt/cuda/lib64',
      CUDA_VISIBLE_DEVICES: '0',
      GGML_VK_VISIBLE_DEVICES: '1',
      OMP_NUM_THREADS: '4',
      HF_ENDPOINT: 'https://hf-mirror.com',
      LLAMA_ARG_THREADS: '8',
      SSH_AUTH_SOCK: '/tmp/agent.sock',
    })
  })

  it("drops every VISTO_* variable and anything credential-like, then sets Visto's own values over what was inherited", () => {
    const env = engineEnvironment(inherited, { LLAMA_API_KEY: 'ours', LLAMA_MEDIA_MARKER: '<m>', LLAMA_ARG_IMAGE_CACHE_MB: undefined })
    expect(Object.keys(env).filter((name) => /visto|key|token|secret|password|credential|aws/i.test(name))).toEqual(['LLAMA_API_KEY'])
    expect(env.LLAMA_API_KEY).toBe('ours')
    expect(env.LLAMA_MEDIA_MARKER).toBe('<m>')
    expect('LLAMA_ARG_IMAGE_CACHE_MB' in env).toBe(false)
  })
})
