/** What the sample app is started with: flags and environment, parsed (see `commands.ts`). */
import type { Logger } from '@buddy/core';

/** The SQLite file used when neither `--db` nor `BUDDY_DB_FILE` names one. */
export const DEFAULT_DB_FILE = '.buddy/buddy.db';

/** How to build the app: who, which session, which storage, which model. */
export interface AppSettings {
  userId: string;
  sessionId?: string;
  /** SQLite file (ignored when `redisUrl` is set). */
  dbFile: string;
  redisUrl?: string;
  /** Key prefix in Redis (the storage's default, `buddy:`, when absent). */
  redisPrefix?: string;
  /** 'auto' picks OpenAI or Anthropic when their key is set, else offline. */
  model: 'auto' | 'offline' | 'openai' | 'anthropic';
  logger?: Logger;
}
