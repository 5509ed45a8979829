// Type-level test: `agent.memory.updateSummary()` type-checks without a cast (SPEC §10.2).
import { Agent } from '@buddy/core';
import type { SessionSummary } from '@buddy/summarizer';
import { expectTypeOf } from 'vitest';
import { AgentMemory } from './agent-memory.ts';

const agent = new Agent({ memory: new AgentMemory(), enableSessionSummaries: true });
expectTypeOf(agent.memory).toEqualTypeOf<AgentMemory>();
expectTypeOf(agent.memory.updateSummary()).toEqualTypeOf<Promise<SessionSummary | undefined>>();
