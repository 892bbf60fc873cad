import type { ModelList } from '@visto/protocol'
import type { FastifyInstance } from 'fastify'
import type { AppDeps } from '../app.js'

const started = Math.floor(Date.now() / 1000)

export function modelsRoutes(app: FastifyInstance, { engine }: AppDeps): void {
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
  app.get('/v1/models', async () => list())
  app.get('/models', async () => list())
}
