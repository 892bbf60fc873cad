import { InvalidImageError, PayloadTooLargeError } from '../errors.js'

/**
 * Where an image sits in the request, and the JSON path a client should look at.
 * For chat requests `param` points at the `url` field of the part; for multipart
 * uploads it is the form field itself.
 */
export interface ImageLocation {
  where: string
  param: string
}

export function chatImageLocation(where: string): ImageLocation {
  return { where, param: `${where}.image_url.url` }
}

export function uploadImageLocation(where: string): ImageLocation {
  return { where, param: where }
}

/** One wording for every refused image, which clients match on: "Invalid image data in <where>: <reason>". */
export function invalidImage(location: ImageLocation, reason: string, options: { code?: string; cause?: unknown } = {}): InvalidImageError {
  return new InvalidImageError(`Invalid image data in ${location.where}: ${reason}`, {
    param: location.param,
    ...(options.code === undefined ? {} : { code: options.code }),
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  })
}

/** 413 naming the limit, its value, and what the image measured. */
export function imageTooLarge(location: ImageLocation, what: string, code: string): PayloadTooLargeError {
  return new PayloadTooLargeError(`Image too large in ${location.where}: ${what}`, { param: location.param, code })
}

export function formatPixels(pixels: number): string {
  return `${trimNumber(pixels / 1_000_000)} MP`
}

function trimNumber(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1).replace(/\.0$/, '')
}
