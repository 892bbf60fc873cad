/** `POST /v1/visto/image-cost` (a Visto extension): what images of given sizes cost before sending them. */
export interface ImageCostRequest {
  /** Sizes as displayed, i.e. after EXIF orientation. */
  images?: Array<{ width: number; height: number; detail?: 'low' | 'auto' | 'high' }>
  /** Videos by duration (seconds) and displayed size, with a `video_url` part's own options. */
  videos?: Array<{ duration: number; width: number; height: number; detail?: 'low' | 'auto' | 'high'; fps?: number; max_frames?: number }>
}

export type VideoCost =
  | {
      object: 'video_cost'
      detail: 'low' | 'auto' | 'high'
      duration: number
      source_width: number
      source_height: number
      /** Frames sampled, evenly spaced from the start. */
      frames: number
      /** The size every frame is scaled to. */
      width: number
      height: number
      /** Images sent: one per pair of frames, each after its timestamp text. */
      images: number
      /** Each image's timestamp text, as Qwen3-VL's processor writes it: "<0.2 seconds>". */
      timestamps: string[]
      /** Tokens of the images themselves. */
      image_tokens: number
      /** What the video adds to `usage.prompt_tokens`: images, their frame markers and the timestamp texts. */
      prompt_tokens: number
      /** True when the engine could not count the timestamp texts and they were estimated. */
      estimated: boolean
    }
  | {
      object: 'video_cost'
      detail: 'low' | 'auto' | 'high'
      duration: number
      source_width: number
      source_height: number
      /** Why the server would refuse this video. */
      error: string
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
  /** Present when the request asked about videos, in their order. */
  videos?: VideoCost[]
}
