import type { ModelList } from '@visto/protocol'
import type { Engine } from '../engines/engine.js'

const started = Math.floor(Date.now() / 1000)

/** `GET /v1/models`: the names the engine answers to. */
export function modelsHandler({ engine }: { engine: Engine }) {
  return async (): Promise<ModelList> => {
    const info = engine.describe()
    return {
      object: 'list',
      data: info.models.map((id) => ({
        id,
        object: 'model',
        created: started,
        owned_by: 'visto',
        meta: { context_length: info.contextLength, vision: info.vision, engine: info.kind },
      })),
    }
  }
}
