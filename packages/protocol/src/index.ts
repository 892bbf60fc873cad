export * from './chat.js'
export * from './errors.js'
export * from './models.js'
export * from './sse.js'
