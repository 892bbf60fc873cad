export * from './chat.js'
export * from './errors.js'
export * from './models.js'
export * from './image-cost.js'
