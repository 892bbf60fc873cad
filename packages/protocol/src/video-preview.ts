/**
 * `POST /v1/visto/video-preview` (a Visto extension): what a video becomes in a chat
 * request (its sampled frames, their size and what they cost) with a small thumbnail of
 * each image the model will see, before the video is sent with a question.
 */
export interface VideoPreviewRequest {
  /** The video, as a `video_url` part carries it: data:video/mp4;base64,... or bare base64. */
  video_data: string
  detail?: 'low' | 'auto' | 'high'
  fps?: number
  max_frames?: number
}

export interface VideoPreviewImage {
  /** The pair's mean time, in seconds. */
  seconds: number
  /** The timestamp text written before the image: "<0.2 seconds>". */
  timestamp: string
  /** What the image, its frame markers and its timestamp text add to `usage.prompt_tokens`. */
  prompt_tokens: number
  /** A small JPEG of the image (the pair's two frames averaged), data:image/jpeg;base64,... */
  thumbnail: string
}

export interface VideoPreview {
  object: 'video_preview'
  detail: 'low' | 'auto' | 'high'
  /** Seconds, from the headers. */
  duration: number
  /** As displayed (rotation applied). */
  source_width: number
  source_height: number
  /** Frames sampled; each pair of them becomes one image. */
  frames: number
  /** The size every image is sent at. */
  width: number
  height: number
  images: VideoPreviewImage[]
  image_tokens: number
  prompt_tokens: number
  /** True when the engine could not count the timestamp texts and they were estimated. */
  estimated: boolean
}
