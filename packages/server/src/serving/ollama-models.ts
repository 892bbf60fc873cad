import { createHash } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import type { OllamaModel, OllamaModelDetails, OllamaPsResponse, OllamaShowResponse, OllamaTagsResponse } from '@visto/protocol'
import type { Engine } from '../engines/engine.js'
import { readGgufScalars, type GgufScalarValue } from '../engines/llama-cpp/gguf-scalars.js'
import { NotFoundError } from '../errors.js'

/** The GGUF files the engine runs here: what /api/tags and /api/show describe. */
export interface ModelFiles {
  model: string
  mmproj?: string | undefined
}

/** How an id is listed to Ollama's clients: Ollama's names always carry a tag. */
export function ollamaName(id: string): string {
  return id.includes(':') ? id : `${id}:latest`
}

/**
 * The engine's model id an Ollama name stands for. Names compare without case, and an
 * Ollama-style name reaches the id it was listed as or derived from:
 * `qwen3-vl-4b-instruct:latest` (as /api/tags lists it) and `qwen3-vl-4b-instruct` are the
 * id itself; `name:tag` is also read as `name-tag`, alone or as the unique id it begins
 * (`qwen3-vl:4b-instruct`, or `qwen3-vl:4b` when only one id starts `qwen3-vl-4b-`), so an
 * app configured with Ollama's library name finds the same model. Anything else: a 404.
 */
export function resolveOllamaModel(name: string, ids: readonly string[]): string {
  const wanted = name.trim().toLowerCase()
  const byName = new Map(ids.map((id) => [id.toLowerCase(), id]))
  const exact = byName.get(wanted) ?? (wanted.endsWith(':latest') ? byName.get(wanted.slice(0, -':latest'.length)) : undefined)
  if (exact !== undefined) return exact
  const colon = wanted.lastIndexOf(':')
  if (colon > 0) {
    const dashed = `${wanted.slice(0, colon)}-${wanted.slice(colon + 1)}`
    const found = byName.get(dashed)
    if (found !== undefined) return found
    const starting = ids.filter((id) => id.toLowerCase().startsWith(`${dashed}-`))
    if (starting.length === 1) return starting[0]!
  }
  throw new NotFoundError(`model "${name.slice(0, 200)}" not found: this server serves ${ids.map(ollamaName).join(', ')} (Visto cannot pull models)`, {
    param: 'model',
    code: 'model_not_found',
  })
}

/** What Ollama's listings say about one model, read once from its files. */
interface ModelFacts {
  size: number
  modifiedAt: string
  digest: string
  details: OllamaModelDetails
  modelInfo: Record<string, unknown>
  projectorInfo: Record<string, unknown> | undefined
  template: string
}

/** llama.cpp's `llama_ftype` names (general.file_type), as Ollama prints quantization levels. */
const fileTypes: Record<number, string> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  7: 'Q8_0',
  8: 'Q5_0',
  9: 'Q5_1',
  10: 'Q2_K',
  11: 'Q3_K_S',
  12: 'Q3_K_M',
  13: 'Q3_K_L',
  14: 'Q4_K_S',
  15: 'Q4_K_M',
  16: 'Q5_K_S',
  17: 'Q5_K_M',
  18: 'Q6_K',
  19: 'IQ2_XXS',
  20: 'IQ2_XS',
  21: 'Q2_K_S',
  22: 'IQ3_XS',
  23: 'IQ3_XXS',
  24: 'IQ1_S',
  25: 'IQ4_NL',
  26: 'IQ3_S',
  27: 'IQ3_M',
  28: 'IQ2_S',
  29: 'IQ2_M',
  30: 'IQ4_XS',
  31: 'IQ1_M',
  32: 'BF16',
  36: 'TQ1_0',
  37: 'TQ2_0',
  38: 'MXFP4',
}

/** `8030261248` → `8.0B`, as Ollama writes parameter sizes. */
function parameterSize(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(1)}B`
  if (count >= 1e6) return `${(count / 1e6).toFixed(0)}M`
  return `${count}`
}

const jsonValue = (value: GgufScalarValue): unknown => (typeof value === 'bigint' ? Number(value) : value)

/**
 * Ollama's model listings for the models this server runs: `/api/tags`, `/api/show`,
 * `/api/ps`. Each engine id is one entry (the `--model-alias` names are one model under
 * several names, as Ollama lists copies). Details come from the GGUF headers when the
 * engine runs local files (`files`), read once; an upstream engine's models are listed
 * with what Visto knows (no sizes, no architecture).
 */
export class OllamaModelCatalog {
  private facts: Promise<ModelFacts> | undefined

  constructor(
    private readonly engine: Engine,
    private readonly options: { files?: ModelFiles | undefined; startedAt: number },
  ) {}

  async tags(): Promise<OllamaTagsResponse> {
    const facts = await this.modelFacts()
    return { models: this.engine.describe().models.map((id) => this.entry(id, facts)) }
  }

  /** The loaded models: all of them while the engine is ready (it loads its model once and keeps it), none otherwise. */
  async ps(): Promise<OllamaPsResponse> {
    if (this.engine.state().status !== 'ready') return { models: [] }
    const facts = await this.modelFacts()
    const info = this.engine.describe()
    // keep_alive is ignored: the model never unloads while the server runs. Ollama writes such a model's expiry far ahead.
    const expiresAt = new Date(Date.now() + 100 * 365 * 24 * 3600 * 1000).toISOString()
    return { models: info.models.map((id) => ({ ...this.entry(id, facts), expires_at: expiresAt, size_vram: 0, context_length: info.contextLength })) }
  }

  async show(name: string): Promise<OllamaShowResponse> {
    const info = this.engine.describe()
    const id = resolveOllamaModel(name, info.models)
    const facts = await this.modelFacts()
    const files = this.options.files
    const modelfile = [
      `# Modelfile generated by Visto for ${ollamaName(id)}`,
      ...(files ? [`FROM ${basename(files.model)}`, ...(files.mmproj ? [`ADAPTER ${basename(files.mmproj)}`] : [])] : [`FROM ${id}`]),
      `PARAMETER num_ctx ${info.contextLength}`,
    ].join('\n')
    return {
      license: '',
      modelfile: `${modelfile}\n`,
      parameters: `num_ctx ${info.contextLength}`,
      template: facts.template,
      details: facts.details,
      model_info: facts.modelInfo,
      ...(facts.projectorInfo ? { projector_info: facts.projectorInfo } : {}),
      capabilities: ['completion', ...(info.vision ? (['vision'] as const) : []), 'tools'],
      modified_at: facts.modifiedAt,
    }
  }

  private entry(id: string, facts: ModelFacts): OllamaModel {
    const name = ollamaName(id)
    return { name, model: name, modified_at: facts.modifiedAt, size: facts.size, digest: facts.digest, details: facts.details }
  }

  private modelFacts(): Promise<ModelFacts> {
    // A file that cannot be read now is tried again on the next listing.
    this.facts ??= readModelFacts(this.options.files, this.engine.describe().models, this.options.startedAt).catch((error: unknown) => {
      this.facts = undefined
      throw error
    })
    return this.facts
  }
}

async function readModelFacts(files: ModelFiles | undefined, ids: readonly string[], startedAt: number): Promise<ModelFacts> {
  if (!files) {
    return {
      size: 0,
      modifiedAt: new Date(startedAt).toISOString(),
      digest: createHash('sha256').update(ids.join('\n')).digest('hex'),
      details: { parent_model: '', format: '', family: '', families: null, parameter_size: '', quantization_level: '' },
      modelInfo: {},
      projectorInfo: undefined,
      template: '',
    }
  }
  const [modelStat, mmprojStat, scalars, projector] = await Promise.all([
    stat(files.model),
    files.mmproj ? stat(files.mmproj) : undefined,
    readGgufScalars(files.model),
    files.mmproj ? readGgufScalars(files.mmproj) : undefined,
  ])
  const family = String(scalars.get('general.architecture') ?? '')
  const fileType = scalars.get('general.file_type')
  const count = scalars.get('general.parameter_count')
  const sizeLabel = scalars.get('general.size_label')
  const template = scalars.get('tokenizer.chat_template')
  const modelInfo: Record<string, unknown> = {}
  // The template has its own field, as in Ollama's answer.
  for (const [key, value] of scalars) if (key !== 'tokenizer.chat_template') modelInfo[key] = jsonValue(value)
  const projectorInfo = projector ? Object.fromEntries([...projector].map(([key, value]) => [key, jsonValue(value)])) : undefined
  const projectorFamily = projector?.get('general.architecture')
  // Not a hash of the gigabytes themselves (Ollama's is its manifest's): one that changes whenever either file does.
  const identity = [files.model, modelStat.size, modelStat.mtimeMs, files.mmproj ?? '', mmprojStat?.size ?? 0, mmprojStat?.mtimeMs ?? 0].join('\n')
  return {
    size: modelStat.size + (mmprojStat?.size ?? 0),
    modifiedAt: new Date(Math.max(modelStat.mtimeMs, mmprojStat?.mtimeMs ?? 0)).toISOString(),
    digest: createHash('sha256').update(identity).digest('hex'),
    details: {
      parent_model: '',
      format: 'gguf',
      family,
      families: family === '' ? null : [family, ...(typeof projectorFamily === 'string' ? [projectorFamily] : [])],
      parameter_size: typeof count === 'number' || typeof count === 'bigint' ? parameterSize(Number(count)) : typeof sizeLabel === 'string' ? sizeLabel : '',
      quantization_level: typeof fileType === 'number' ? (fileTypes[fileType] ?? `type ${fileType}`) : '',
    },
    modelInfo,
    projectorInfo,
    template: typeof template === 'string' ? template : '',
  }
}
