import type { Hub, HubSourceName } from './hub.js'
import { createHuggingFaceHub } from './hugging-face-hub.js'
import { createModelScopeHub } from './modelscope-hub.js'

export function createHub(source: HubSourceName, env: NodeJS.ProcessEnv): Hub {
  return source === 'modelscope' ? createModelScopeHub(env) : createHuggingFaceHub(env)
}
