/**
 * GGUF metadata values, tagged with their on-disk type. The tag matters: llama.cpp
 * rejects a UINT32 where it expects an INT32, so a plain JS number is not enough.
 * Readers return the same shapes writers take, so a round trip is an equality.
 */

/** The on-disk type codes of GGUF v3 metadata values (ggml `gguf_type`). */
export const GgufValueType = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const

interface ScalarJsTypes {
  uint8: number
  int8: number
  uint16: number
  int16: number
  uint32: number
  int32: number
  float32: number
  float64: number
  uint64: bigint
  int64: bigint
  bool: boolean
  string: string
}

export type GgufScalarType = keyof ScalarJsTypes
export type GgufValueTypeName = keyof typeof GgufValueType

export type GgufScalar = { [K in GgufScalarType]: { type: K; value: ScalarJsTypes[K] } }[GgufScalarType]

/** GGUF arrays are homogeneous; their items may themselves be arrays. */
export type GgufArray =
  | { [K in GgufScalarType]: { type: 'array'; itemType: K; items: ScalarJsTypes[K][] } }[GgufScalarType]
  | { type: 'array'; itemType: 'array'; items: GgufArray[] }

export type GgufValue = GgufScalar | GgufArray

/** Key/value pairs in file order (the order is part of a byte-identical file). */
export type GgufMetadata = ReadonlyArray<readonly [key: string, value: GgufValue]>

const typeNamesByCode = new Map<number, GgufValueTypeName>(Object.entries(GgufValueType).map(([name, code]) => [code, name as GgufValueTypeName]))

export function valueTypeName(code: number): GgufValueTypeName | undefined {
  return typeNamesByCode.get(code)
}

// Constructors keep call sites short and make the on-disk type visible where a value is built.
export const gguf = {
  u8: (value: number): GgufScalar => ({ type: 'uint8', value }),
  i8: (value: number): GgufScalar => ({ type: 'int8', value }),
  u16: (value: number): GgufScalar => ({ type: 'uint16', value }),
  i16: (value: number): GgufScalar => ({ type: 'int16', value }),
  u32: (value: number): GgufScalar => ({ type: 'uint32', value }),
  i32: (value: number): GgufScalar => ({ type: 'int32', value }),
  f32: (value: number): GgufScalar => ({ type: 'float32', value }),
  f64: (value: number): GgufScalar => ({ type: 'float64', value }),
  u64: (value: bigint): GgufScalar => ({ type: 'uint64', value }),
  i64: (value: bigint): GgufScalar => ({ type: 'int64', value }),
  bool: (value: boolean): GgufScalar => ({ type: 'bool', value }),
  str: (value: string): GgufScalar => ({ type: 'string', value }),
  strings: (items: string[]): GgufArray => ({ type: 'array', itemType: 'string', items }),
  i32s: (items: number[]): GgufArray => ({ type: 'array', itemType: 'int32', items }),
  f32s: (items: number[]): GgufArray => ({ type: 'array', itemType: 'float32', items }),
  bools: (items: boolean[]): GgufArray => ({ type: 'array', itemType: 'bool', items }),
}

/** Looks a key up in read metadata; `undefined` when absent. */
export function metadataValue(metadata: GgufMetadata, key: string): GgufValue | undefined {
  for (const [k, v] of metadata) if (k === key) return v
  return undefined
}
