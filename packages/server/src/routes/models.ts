import type { ModelList } from '@visto/protocol'
import type { FastifyInstance } from 'fastify'
import type { Engine } from '../engines/engine.js'

const started = Math.floor(Date.now() / 1000)

export function modelsRoutes(app: FastifyInstance, { engine }: { engine: Engine }): void {
  const list = (): ModelList => {
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
  for (const url of ['/v1/models', '/models']) app.get(url, { config: { access: 'guarded' } }, async () => list())
}
