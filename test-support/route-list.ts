import type { FastifyInstance } from 'fastify'
import type { RouteAccess } from '../packages/server/src/access.js'
import type { ErrorFormat } from '../packages/server/src/http-errors.js'
import type { RouteEntry } from '../packages/server/src/routes/route-table.js'

export interface ListedRoute {
  method: string
  url: string
  access: RouteAccess
  /** The shape of the route's error bodies. */
  errorFormat: ErrorFormat
}

/**
 * The route table as the router holds it: one entry per method and path, with the HEAD
 * route Fastify adds beside each GET. Throws when a row is not registered on `app`; the
 * table registrar refuses routes from anywhere else, so this is every route there is.
 */
export function listRoutes(app: FastifyInstance, table: readonly RouteEntry[]): ListedRoute[] {
  const routes: ListedRoute[] = []
  for (const entry of table) {
    const methods = entry.method === 'ANY' ? app.supportedMethods : entry.method === 'GET' ? ['GET', 'HEAD'] : [entry.method]
    for (const url of entry.paths) {
      for (const method of methods) {
        // The router files the catch-all `*` under `/*`.
        if (!app.hasRoute({ method, url: url === '*' ? '/*' : url })) throw new Error(`the route table's ${method} ${url} is not registered`)
        routes.push({ method, url, access: entry.access, errorFormat: entry.errorFormat ?? 'openai' })
      }
    }
  }
  return routes
}
