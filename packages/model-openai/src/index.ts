export { DEFAULT_OPENAI_MODEL_ID, OpenAIChat, type OpenAIChatOptions } from './openai-chat.ts';
