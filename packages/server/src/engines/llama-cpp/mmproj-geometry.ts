import { qwen3VlGeometry, type VisionGeometry } from '../vision-geometry.js'
import { readGgufScalars, type GgufScalarValue } from './gguf-scalars.js'

function positiveInteger(value: GgufScalarValue | undefined): number | undefined {
  const number = typeof value === 'bigint' ? Number(value) : value
  return typeof number === 'number' && Number.isInteger(number) && number > 0 ? number : undefined
}

/**
 * The geometry a vision projector (mmproj) GGUF declares: `clip.vision.patch_size` and
 * `clip.vision.spatial_merge_size`, the keys llama.cpp's mtmd reads. The fewest image
 * tokens (8) and the two frame markers are not in the file (mtmd fixes them for Qwen-VL
 * projectors), so they, and whatever else the file leaves out, are Qwen3-VL's.
 */
export async function readMmprojGeometry(path: string): Promise<VisionGeometry> {
  const metadata = await readGgufScalars(path)
  return {
    patchSize: positiveInteger(metadata.get('clip.vision.patch_size')) ?? qwen3VlGeometry.patchSize,
    spatialMerge: positiveInteger(metadata.get('clip.vision.spatial_merge_size')) ?? qwen3VlGeometry.spatialMerge,
    minImageTokens: qwen3VlGeometry.minImageTokens,
    frameTokens: qwen3VlGeometry.frameTokens,
  }
}
