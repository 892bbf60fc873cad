/**
 * Route access declarations (`{ config: { access } }`), typed until the access rule in
 * access.ts declares the same field; then this file goes.
 */
declare module 'fastify' {
  interface FastifyContextConfig {
    access?: 'public' | 'guarded'
  }
}

export {}
