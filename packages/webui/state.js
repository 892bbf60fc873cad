// @ts-check
// What the page knows: the conversation so far, the attachments waiting in the composer,
// the server's model and speed. One object, shared by the modules that read and change it.

import { DEFAULT_MODEL_ID } from '@visto/protocol'

/**
 * @typedef {'low' | 'auto' | 'high'} Detail
 * @typedef {{ number: number, width: number, height: number, promptTokens: number, thumbnail: string }} DocumentPage
 * @typedef {{ width: number, height: number, promptTokens: number }} ImageFigure
 * @typedef {{ pageCount: number, pages: DocumentPage[], promptTokens: number }} DocumentFigure
 * @typedef {{ seconds: number, timestamp: string, promptTokens: number, thumbnail: string }} VideoFrame one image the model sees: a pair of frames after its timestamp
 * @typedef {{ duration: number, frames: number, width: number, height: number, images: VideoFrame[], promptTokens: number }} VideoFigure
 * @typedef {ImageFigure | DocumentFigure | VideoFigure | { error: string } | { unavailable: true }} ImageCost
 * @typedef {{ kind: 'image' | 'document' | 'video', name: string, mime: string, dataUrl: string, detail: Detail,
 *   size: { width: number, height: number } | null, costs: Partial<Record<Detail, ImageCost>> }} Attachment
 * @typedef {{ role: 'user' | 'assistant', text: string, images: Attachment[] }} Turn
 * @typedef {'chat' | 'ocr' | 'find'} AskKind 'ocr' asks for the text in the images, and its answer is shown as plain text;
 *   'find' asks for boxes around what the question names (groundingPrompt), drawn on the image
 * @typedef {'python' | 'curl' | 'javascript' | 'anthropic'} CodeLanguage
 * @typedef {'chat' | 'responses'} CodeApi which OpenAI API the code calls: chat completions, or the Responses API
 */

export const state = {
  /** The finished turns, sent again with every question (and shown as code). */
  turns: /** @type {Turn[]} */ ([]),
  /** Images waiting to be sent with the next question. */
  attachments: /** @type {Attachment[]} */ ([]),
  model: /** @type {string | null} */ (null),
  /** Aborted by Stop, Escape or New chat; null while no answer is streaming. */
  controller: /** @type {AbortController | null} */ (null),
  /** Numbers the question/answer pairs on screen. */
  asked: 0,
  /** The server's recent prompt speed (tokens/s), null when it has none to tell. */
  promptSpeed: /** @type {number | null} */ (null),
  codeLanguage: /** @type {CodeLanguage} */ ('python'),
  codeApi: /** @type {CodeApi} */ ('chat'),
}

/** The model a request names: the server's own once known, the default id until then. */
export function modelId() {
  return state.model ?? DEFAULT_MODEL_ID
}
