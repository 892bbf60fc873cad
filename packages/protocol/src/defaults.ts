/**
 * The model id a Visto server answers to unless `--model-alias` says otherwise, and the one
 * the SDK, the CLI and the web page ask for when told nothing: defined here, once.
 */
export const DEFAULT_MODEL_ID = 'qwen3-vl-4b-instruct'
