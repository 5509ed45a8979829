/**
 * Tools the agent adds itself: `get_chat_history` (SPEC §2.6, `readChatHistory`) and
 * `get_previous_session_messages` (`searchPreviousSessionsHistory`).
 */
import { z } from 'zod';
import { runsToPairs } from '../messages/message-helpers.ts';
import type { SessionStorage, StoredRun } from '../spec/session-storage-v1.ts';
import { type Tool, tool } from '../tools/tool.ts';

/** Runs read per previous session, so the tool's cost never grows with old sessions. */
export const MAX_RUNS_PER_PREVIOUS_SESSION = 50;
/** Pairs `get_chat_history` returns when the model does not say how many. */
export const DEFAULT_CHAT_HISTORY_PAIRS = 10;
/** Name of the tool `readChatHistory` adds. */
export const CHAT_HISTORY_TOOL = 'get_chat_history';
/** Name of the tool `searchPreviousSessionsHistory` adds. */
export const PREVIOUS_SESSIONS_TOOL = 'get_previous_session_messages';

function pairsAsMessages(
  runs: readonly StoredRun[],
): { role: 'user' | 'assistant'; content: string }[] {
  return runsToPairs(runs).flatMap(([user, assistant]) => [
    { role: 'user' as const, content: user.content },
    { role: 'assistant' as const, content: assistant.content },
  ]);
}

/** The `get_chat_history` tool over `storage` (this session's last exchanges as JSON). */
export function createChatHistoryTool(storage: SessionStorage): Tool {
  return tool({
    name: CHAT_HISTORY_TOOL,
    description:
      'Returns the chat history of this session as JSON: the last user messages and your answers, oldest first.',
    parameters: z.object({
      num_chats: z
        .number()
        .int()
        .min(1)
        .max(100)
        .optional()
        .describe(
          `How many of the latest exchanges to return (default ${DEFAULT_CHAT_HISTORY_PAIRS}).`,
        ),
    }),
    execute: async ({ num_chats }, { sessionId }) => {
      const runs = await storage.getRuns({
        sessionId,
        last: num_chats ?? DEFAULT_CHAT_HISTORY_PAIRS,
      });
      return JSON.stringify(pairsAsMessages(runs));
    },
  }) as Tool;
}

/** The `get_previous_session_messages` tool: this user's other recent sessions, never another user's. */
export function createPreviousSessionsTool(options: {
  storage: SessionStorage;
  hasStorage: boolean;
  numHistorySessions: number;
}): Tool {
  const { storage, hasStorage, numHistorySessions } = options;
  return tool({
    name: PREVIOUS_SESSIONS_TOOL,
    description: `Returns the messages of this user's ${numHistorySessions} most recent other sessions as JSON (user messages and your answers).`,
    parameters: z.object({}),
    execute: async (_args, { sessionId, userId }) => {
      if (!hasStorage) {
        return 'Previous sessions are not available: this agent has no storage configured, so past sessions are not kept.';
      }
      if (userId === undefined) {
        return 'Previous sessions are not available: no userId is set, so there is no way to know whose sessions to read.';
      }
      if (numHistorySessions === 0) return 'No previous sessions';
      const { sessions } = await storage.listSessions({ userId, limit: numHistorySessions + 1 });
      const others = sessions
        .filter((session) => session.sessionId !== sessionId)
        .slice(0, numHistorySessions);
      if (others.length === 0) return 'No previous sessions';
      const result = await Promise.all(
        others.map(async (session) => ({
          sessionId: session.sessionId,
          ...(session.sessionName === undefined ? {} : { sessionName: session.sessionName }),
          updatedAt: new Date(session.updatedAt).toISOString(),
          messages: pairsAsMessages(
            await storage.getRuns({
              sessionId: session.sessionId,
              last: MAX_RUNS_PER_PREVIOUS_SESSION,
            }),
          ),
        })),
      );
      return JSON.stringify(result);
    },
  }) as Tool;
}
