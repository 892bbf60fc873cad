import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Each test server its own batch data directory: one server may hold a data directory at a time. */
export function freshDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'visto-data-'))
}
