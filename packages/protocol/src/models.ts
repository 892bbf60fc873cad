export interface ModelObject {
  id: string
  object: 'model'
  created: number
  owned_by: string
  /** Visto extension: what the model accepts. */
  meta?: { context_length?: number; vision?: boolean; engine?: string }
}

export interface ModelList {
  object: 'list'
  data: ModelObject[]
}

export interface HealthStatus {
  status: 'ok' | 'loading' | 'unavailable'
  /** 0..1 while loading. */
  progress?: number
  message?: string
}
