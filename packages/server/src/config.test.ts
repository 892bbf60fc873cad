import { describe, expect, it } from 'vitest'
import { batchConcurrency, ConfigError, describeNonDefaults, imageCacheSetting, parseServeConfig, replicaCount, serveHelp, upstreamUrls } from './config.js'

describe('serve config', () => {
  it('separates every option in --help from its description, in one column', () => {
    const optionLines = serveHelp()
      .split('\n')
      .filter((line) => line.startsWith('  --'))
    expect(optionLines.length).toBeGreaterThan(20)
    const columns = new Set<number>()
    for (const line of optionLines) {
      const match = /^( {2}--[a-z0-9-]+(?: VALUE)?)( {2,})\S/.exec(line)
      expect(match, line).not.toBeNull()
      columns.add(match![1]!.length + match![2]!.length)
    }
    expect([...columns]).toHaveLength(1)
  })

  it('uses the documented defaults', () => {
    const config = parseServeConfig([], {})
    expect(config.port).toBe(7860)
    expect(config.host).toBe('127.0.0.1')
    expect(config['model-alias']).toBe('qwen3-vl-4b-instruct')
    expect(config['default-max-tokens']).toBe(1024)
    expect(config['body-limit-mb']).toBeGreaterThanOrEqual(20)
    expect(config['allow-remote-images']).toBe(false)
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('prefers flags over VISTO_* variables over defaults', () => {
    expect(parseServeConfig([], { VISTO_PORT: '8080' }).port).toBe(8080)
    expect(parseServeConfig(['--port', '9090'], { VISTO_PORT: '8080' }).port).toBe(9090)
    expect(parseServeConfig(['--port=9191'], {}).port).toBe(9191)
    expect(parseServeConfig([], { VISTO_ALLOW_REMOTE_IMAGES: '1' })['allow-remote-images']).toBe(true)
    expect(parseServeConfig(['--no-allow-remote-images'], { VISTO_ALLOW_REMOTE_IMAGES: '1' })['allow-remote-images']).toBe(false)
    expect(parseServeConfig([], { VISTO_CACHE: '/tmp/c' }).cache).toBe('/tmp/c')
  })

  it.each([
    [['--port', 'abc'], '--port must be a whole number, got "abc"'],
    [['--port', '70000'], '--port must be at most 65535, got 70000'],
    [['--parallel', '0'], '--parallel must be at least 1, got 0'],
    [['--engine', 'tensorrt'], '--engine must be one of llama.cpp, openai, got "tensorrt"'],
    [['--frobnicate'], 'unknown option --frobnicate (see visto serve --help)'],
    [['--model'], '--model needs a value'],
    [['stray'], 'unexpected argument "stray" (options start with --; see visto serve --help)'],
    [['--engine', 'openai'], '--engine openai needs --upstream-url (e.g. http://gpu-box:8000/v1)'],
  ])('rejects %j with one clear line', (argv, message) => {
    expect(() => parseServeConfig(argv, {})).toThrow(new ConfigError(message))
  })

  it('takes --decode-concurrency (default 2) from the flag or VISTO_DECODE_CONCURRENCY, and says so in --help', () => {
    expect(parseServeConfig([], {})['decode-concurrency']).toBe(2)
    expect(parseServeConfig([], { VISTO_DECODE_CONCURRENCY: '4' })['decode-concurrency']).toBe(4)
    expect(parseServeConfig(['--decode-concurrency', '1'], { VISTO_DECODE_CONCURRENCY: '4' })['decode-concurrency']).toBe(1)
    expect(() => parseServeConfig(['--decode-concurrency', '0'], {})).toThrow(new ConfigError('--decode-concurrency must be at least 1, got 0'))
    expect(serveHelp()).toMatch(/--decode-concurrency VALUE +Images and PDFs decoded or rendered at once, all requests together; the rest wait their turn\. \(default: 2\)/)
  })

  it('names the variable when an environment value is bad', () => {
    expect(() => parseServeConfig([], { VISTO_CTX_SIZE: 'big' })).toThrow('VISTO_CTX_SIZE must be a whole number, got "big"')
  })

  it('takes --engine-stall-seconds from VISTO_ENGINE_STALL_SECONDS (300 by default, 0 = off), shown in --help', () => {
    expect(parseServeConfig([], {})['engine-stall-seconds']).toBe(300)
    expect(parseServeConfig([], { VISTO_ENGINE_STALL_SECONDS: '0' })['engine-stall-seconds']).toBe(0)
    expect(parseServeConfig(['--engine-stall-seconds', '3'], { VISTO_ENGINE_STALL_SECONDS: '60' })['engine-stall-seconds']).toBe(3)
    expect(() => parseServeConfig(['--engine-stall-seconds', '-1'], {})).toThrow(new ConfigError('--engine-stall-seconds must be at least 0, got -1'))
    expect(serveHelp()).toMatch(/--engine-stall-seconds VALUE +With --engine llama\.cpp: .*0 = never\. \(default: 300\)/)
  })

  it('takes --max-json-depth from VISTO_MAX_JSON_DEPTH, and refuses one too shallow for the schemas --max-schema-depth allows', () => {
    expect(parseServeConfig([], {})['max-json-depth']).toBe(64)
    expect(parseServeConfig([], { VISTO_MAX_JSON_DEPTH: '200' })['max-json-depth']).toBe(200)
    expect(() => parseServeConfig(['--max-schema-depth', '100'], {})).toThrow(
      '--max-json-depth (64) must be at least --max-schema-depth + 5 (105): a request holds its schema that many levels down',
    )
    expect(parseServeConfig(['--max-schema-depth', '100', '--max-json-depth', '105'], {})['max-schema-depth']).toBe(100)
  })

  it('logs only non-default values, with secrets redacted', () => {
    const config = parseServeConfig(['--port', '8000', '--api-key', 'sk-secret'], {})
    expect(describeNonDefaults(config)).toEqual(['port=8000', 'api-key=<redacted>'])
  })

  it('logs an upstream URL without its credentials', () => {
    const config = parseServeConfig(['--engine', 'openai', '--upstream-url', 'http://user:s3cret@gpu-box:8000/v1'], {})
    expect(describeNonDefaults(config)).toEqual(['engine=openai', 'upstream-url=http://gpu-box:8000/v1'])
  })

  it('joins a repeated --upstream-url with the comma-separated ones, and keeps --replicas and --devices to the embedded engine', () => {
    const config = parseServeConfig(['--engine', 'openai', '--upstream-url', 'http://a:8000/v1,http://b:8000/v1', '--upstream-url=http://c:8000/v1'], {})
    expect(upstreamUrls(config['upstream-url'])).toEqual(['http://a:8000/v1', 'http://b:8000/v1', 'http://c:8000/v1'])
    expect(() => parseServeConfig(['--engine', 'openai', '--upstream-url', ' , '], {})).toThrow(new ConfigError('--upstream-url lists no URL'))
    expect(() => parseServeConfig(['--engine', 'openai', '--upstream-url', 'http://a/v1', '--replicas', '2'], {})).toThrow(
      '--replicas and --devices start llama-server children: they need --engine llama.cpp (with --engine openai, list the engines in --upstream-url)',
    )
    expect(replicaCount(parseServeConfig(['--devices', '0,1,2'], {}))).toBe(3)
    expect(replicaCount(parseServeConfig(['--devices', '0,1', '--replicas', '4'], {}))).toBe(4)
    expect(() => parseServeConfig(['--routing', 'random'], {})).toThrow('--routing must be one of affinity, least-loaded, round-robin, got "random"')
  })

  it('takes --image-cache-mb as auto (the default) or MiB, 0 included, and refuses anything else', () => {
    expect(imageCacheSetting(parseServeConfig([], {})['image-cache-mb'])).toBe('auto')
    expect(imageCacheSetting(parseServeConfig(['--image-cache-mb', '0'], {})['image-cache-mb'])).toBe(0)
    expect(imageCacheSetting(parseServeConfig(['--image-cache-mb', '0.1'], {})['image-cache-mb'])).toBe(0.1)
    expect(imageCacheSetting(parseServeConfig([], { VISTO_IMAGE_CACHE_MB: '512' })['image-cache-mb'])).toBe(512)
    for (const bad of ['-1', 'lots', ' ', 'Infinity']) {
      expect(() => parseServeConfig([`--image-cache-mb=${bad}`], {})).toThrow(
        new ConfigError(`--image-cache-mb must be auto or a number of MiB (0 turns the cache off), got "${bad}"`),
      )
    }
  })

  it('takes --batch-concurrency as auto (the default: every engine slot) or a whole number, and refuses anything else', () => {
    expect(batchConcurrency(parseServeConfig([], {})['batch-concurrency'])).toBe('auto')
    expect(batchConcurrency(parseServeConfig(['--batch-concurrency', '3'], {})['batch-concurrency'])).toBe(3)
    expect(batchConcurrency(parseServeConfig([], { VISTO_BATCH_CONCURRENCY: '8' })['batch-concurrency'])).toBe(8)
    for (const bad of ['0', '2.5', 'many', '-1', '1025']) {
      expect(() => parseServeConfig(['--batch-concurrency', bad], {})).toThrow(new ConfigError(`--batch-concurrency must be auto or a whole number from 1 to 1024, got "${bad}"`))
    }
  })
})
