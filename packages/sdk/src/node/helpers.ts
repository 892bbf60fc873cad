/** Everything the browser-safe modules load lazily when they find themselves in Node. */
export { DiskCache, defaultCacheDir } from './disk-cache.js'
export { readImageFile } from './read-image-file.js'
