/** `POST /v1/visto/image-cost` (a Visto extension): what images of given sizes cost before sending them. */
export interface ImageCostRequest {
  /** Sizes as displayed, i.e. after EXIF orientation. */
  images: Array<{ width: number; height: number; detail?: 'low' | 'auto' | 'high' }>
}

export type ImageCost =
  | {
      object: 'image_cost'
      detail: 'low' | 'auto' | 'high'
      source_width: number
      source_height: number
      /** The size the server resizes the image to. */
      width: number
      height: number
      /** Tokens of the image itself: (width / 32) x (height / 32). */
      image_tokens: number
      /** What the image adds to `usage.prompt_tokens`, its frame markers included. */
      prompt_tokens: number
    }
  | {
      object: 'image_cost'
      detail: 'low' | 'auto' | 'high'
      source_width: number
      source_height: number
      /** Why the server would refuse this image. */
      error: string
    }

export interface ImageCostList {
  object: 'list'
  data: ImageCost[]
}
