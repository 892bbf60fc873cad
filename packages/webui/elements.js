// @ts-check
// The page's elements (index.html), looked up once. Every id here exists in index.html;
// a missing one would fail on first use, so the casts state what the markup promises.

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id))

export const els = {
  modelName: byId('model-name'),
  health: byId('health'),
  language: /** @type {HTMLSelectElement} */ (byId('language')),
  showCode: /** @type {HTMLButtonElement} */ (byId('show-code')),
  newChat: /** @type {HTMLButtonElement} */ (byId('new-chat')),
  chat: byId('chat'),
  emptyHint: byId('empty-hint'),
  messages: byId('messages'),
  settings: /** @type {HTMLDetailsElement} */ (byId('settings')),
  temperature: /** @type {HTMLInputElement} */ (byId('temperature')),
  temperatureValue: /** @type {HTMLOutputElement} */ (byId('temperature-value')),
  maxTokens: /** @type {HTMLInputElement} */ (byId('max-tokens')),
  apiKey: /** @type {HTMLInputElement} */ (byId('api-key')),
  composer: /** @type {HTMLFormElement} */ (byId('composer')),
  attachments: byId('attachments'),
  notice: byId('notice'),
  estimate: byId('estimate'),
  fileInput: /** @type {HTMLInputElement} */ (byId('file-input')),
  question: /** @type {HTMLTextAreaElement} */ (byId('question')),
  ocr: /** @type {HTMLButtonElement} */ (byId('ocr')),
  find: /** @type {HTMLButtonElement} */ (byId('find')),
  send: /** @type {HTMLButtonElement} */ (byId('send')),
  stop: /** @type {HTMLButtonElement} */ (byId('stop')),
  dropOverlay: byId('drop-overlay'),
  codeDialog: /** @type {HTMLDialogElement} */ (byId('code-dialog')),
  closeCode: /** @type {HTMLButtonElement} */ (byId('close-code')),
  codeTabs: [...document.querySelectorAll('.code-tabs [role="tab"]')].map((tab) => /** @type {HTMLButtonElement} */ (tab)),
  codePanel: byId('code-panel'),
  codeApi: /** @type {HTMLSelectElement} */ (byId('code-api')),
  codeText: byId('code-text'),
  copyCode: /** @type {HTMLButtonElement} */ (byId('copy-code')),
}
