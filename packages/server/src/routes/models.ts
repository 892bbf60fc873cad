import type { ModelList } from '@visto/protocol'
import type { Engine } from '../engines/engine.js'

/** `GET /v1/models`: the names the engine answers to, `created` when this server started (`startedAt`, ms). */
export function modelsHandler({ engine, startedAt }: { engine: Engine; startedAt: number }) {
  const created = Math.floor(startedAt / 1000)
  return async (): Promise<ModelList> => {
    const info = engine.describe()
    return {
      object: 'list',
      data: info.models.map((id) => ({
        id,
        object: 'model',
        created,
        owned_by: 'visto',
        meta: { context_length: info.contextLength, vision: info.vision, engine: info.kind },
      })),
    }
  }
}
