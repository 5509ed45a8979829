/** What the sample app is started with: flags and environment, parsed (see `commands.ts`). */
import type { Logger } from '@buddy/core';

/** The SQLite file used when neither `--db` nor `BUDDY_DB_FILE` names one. */
export const DEFAULT_DB_FILE = '.buddy/buddy.db';

/** Where the app's sessions and memories live: one of the three backends. */
export interface StoreSettings {
  /** SQLite file (used when neither `postgresUrl` nor `redisUrl` is set). */
  dbFile: string;
  redisUrl?: string;
  /** Key prefix in Redis (the storage's default, `buddy:`, when absent). */
  redisPrefix?: string;
  /** PostgreSQL connection URL; when set, it is used (checked before Redis). */
  postgresUrl?: string;
  /** Schema of the PostgreSQL tables (the storage's default, `public`, when absent). */
  postgresSchema?: string;
  /**
   * Where the backend's URL came from, so an error can say what to change: `flag`
   * (`--postgres` / `--redis`) or `env` (`BUDDY_POSTGRES_URL` / `BUDDY_REDIS_URL`). Default `env`.
   */
  urlSource?: 'flag' | 'env';
}

/** How to build the app: who, which session, which storage, which model. */
export interface AppSettings extends StoreSettings {
  userId: string;
  sessionId?: string;
  /** 'auto' picks OpenAI or Anthropic when their key is set, else offline. */
  model: 'auto' | 'offline' | 'openai' | 'anthropic';
  logger?: Logger;
}
