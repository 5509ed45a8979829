export { DEFAULT_OPENAI_MODEL_ID, OpenAIChat, type OpenAIChatOptions } from './openai-chat.ts';
export { isReasoningModel } from './openai-request.ts';
export { encodingForModel, type TokenEncoding } from './token-counter.ts';
