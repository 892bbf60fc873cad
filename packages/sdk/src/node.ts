/**
 * @visto/sdk/node — everything in the browser entry plus the Node-only pieces:
 * the on-disk result cache and reading images by path.
 */
export * from './index.js'
export { DiskCache, defaultCacheDir } from './node/disk-cache.js'
export { readImageFile } from './node/read-image-file.js'
