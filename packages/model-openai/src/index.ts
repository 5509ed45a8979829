export {
  type BatchLimits,
  batchEmbeddingInputs,
  MAX_EMBEDDING_INPUTS,
  MAX_EMBEDDING_REQUEST_TOKENS,
} from './batch-embedding-inputs.ts';
export { DEFAULT_OPENAI_MODEL_ID, OpenAIChat, type OpenAIChatOptions } from './openai-chat.ts';
export {
  DEFAULT_OPENAI_EMBEDDING_MODEL_ID,
  OPENAI_EMBEDDING_DIMENSIONS,
  OpenAIEmbedder,
  type OpenAIEmbedderOptions,
} from './openai-embedder.ts';
export { isReasoningModel } from './openai-request.ts';
export { encodingForModel, type TokenEncoding } from './token-counter.ts';
