/**
 * `POST /v1/visto/document-preview` (a Visto extension): what a PDF becomes in a chat
 * request (its pages, the size each is rendered at and what it costs) with a small
 * thumbnail of each page, before the document is sent with a question.
 */
export interface DocumentPreviewRequest {
  /** The PDF, as a chat `file` part carries it: data:application/pdf;base64,... or bare base64. */
  file_data: string
  filename?: string
  detail?: 'low' | 'auto' | 'high'
  /** Pages to preview, as in a `file` part ("1-3,7"); all when absent. */
  pages?: string
}

export interface DocumentPreviewPage {
  /** 1-based. */
  number: number
  /** The size the page is rendered at for the model. */
  width: number
  height: number
  /** Tokens of the page image: (width / 32) x (height / 32). */
  image_tokens: number
  /** What the page image adds to `usage.prompt_tokens`, its frame markers included (its "Page N of M:" text marker aside). */
  prompt_tokens: number
  /** A small JPEG of the page, data:image/jpeg;base64,... */
  thumbnail: string
}

export interface DocumentPreview {
  object: 'document_preview'
  detail: 'low' | 'auto' | 'high'
  /** Pages in the whole document, selected or not. */
  page_count: number
  /** The selected pages (all, without a selection), in document order. */
  pages: DocumentPreviewPage[]
  /** All selected pages together. */
  image_tokens: number
  prompt_tokens: number
}
