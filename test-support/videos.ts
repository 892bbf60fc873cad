/** Test videos for the server's tests: the test kit's ffmpeg-made clips. */
export { ffmpegAvailable, makeClip, noFfmpegReason, videoDataUrl, withDeclaredDuration, type ClipOptions } from '@visto/testkit/videos/test-clips'
