export { DEFAULT_MAX_TOKENS } from './anthropic-request.ts';
export { Claude, type ClaudeOptions, DEFAULT_CLAUDE_MODEL_ID } from './claude.ts';
