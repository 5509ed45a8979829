/**
 * `@buddy/studio`: a local web app and JSON API to look inside an agent's memory (SPEC §14):
 * sessions per user, each session's timeline, state, summary and the user's memories; rename,
 * delete, forget; and chat with streamed answers when an agent is given.
 */

export type {
  StateChange,
  StudioChatEvent,
  StudioErrorBody,
  StudioForgetResult,
  StudioInfo,
  StudioMemoryList,
  StudioPendingApproval,
  StudioRun,
  StudioRunPage,
  StudioSession,
  StudioSessionList,
} from './api-types.ts';
export {
  createStudio,
  DEFAULT_STUDIO_HOST,
  DEFAULT_STUDIO_PORT,
  MIN_TOKEN_LENGTH,
  type Studio,
  type StudioAddress,
  type StudioListenOptions,
  type StudioOptions,
} from './create-studio.ts';
export { diffState } from './state-diff.ts';
