/**
 * `@buddy/memory`: session summaries and user memories for Buddy agents (SPEC §6, §7).
 *
 * `AgentMemory` is what you pass as `new Agent({ memory })`. It keeps user memories in a
 * `MemoryDb` (`InMemoryMemoryDb` by default; `SqliteMemoryDb` / `RedisMemoryDb` for persistence)
 * and stores session summaries with the session in the Agent's `SessionStorage`.
 *
 * Models: `new AgentMemory({ model })` sets the model of all helpers. Without one, each helper
 * imports the default model (`@buddy/model-openai`, an optional peer) lazily at its first call;
 * a missing package or API key makes that call fail, which the Agent reports as a warning.
 */
export type { MemoryDb, UserMemory } from '@buddy/core';
export type { SessionSummary } from '@buddy/summarizer';
export {
  AgentMemory,
  type AgentMemoryOptions,
  DEFAULT_NUM_MEMORIES,
  type MemoryRetrieval,
  type MemoryUpdateResult,
} from './agent-memory.ts';
export {
  DEFAULT_CLASSIFIER_PROMPT,
  type MemoryClassification,
  MemoryClassificationSchema,
  MemoryClassifier,
  type MemoryClassifierOptions,
} from './memory-classifier.ts';
export {
  DEFAULT_MANAGER_PROMPT,
  MAX_MEMORIES_IN_PROMPT,
  MAX_MEMORY_MANAGER_ROUNDS,
  type MemoryChange,
  MemoryManager,
  type MemoryManagerOptions,
  type MemoryManagerResult,
  type MemoryManagerRunInput,
} from './memory-manager.ts';
