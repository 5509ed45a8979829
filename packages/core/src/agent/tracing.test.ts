/**
 * Tracing (SPEC §16.5) with the OpenTelemetry SDK's in-memory exporter: one `buddy.run` span per
 * run with model, tool, storage and post-answer children, GenAI attributes, and no message text
 * or user id unless asked.
 */

import { MockModel } from '@buddy/testkit';
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import { silentLogger } from '../logging/console-logger.ts';
import type { AgentMemoryContract } from '../spec/agent-memory-v1.ts';
import { tool } from '../tools/tool.ts';
import { Agent } from './agent.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

beforeAll(() => {
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  trace.disable();
  await provider.shutdown();
});
beforeEach(() => exporter.reset());

const secretTool = tool({
  name: 'lookup',
  parameters: z.object({ query: z.string() }),
  execute: ({ query }) => `found ${query}`,
});

function toolModel() {
  return new MockModel({
    respond: (request) =>
      request.messages.at(-1)?.role === 'tool'
        ? 'The answer is 42.'
        : { toolCalls: [{ name: 'lookup', arguments: { query: 'secret plans' } }] },
  });
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** A memory extension whose post-answer work does nothing, quickly. */
class AgentMemoryStub implements AgentMemoryContract {
  readonly specificationVersion = 'v1' as const;
  attach(): void {}
  async readMemories() {
    return [];
  }
  async updateSessionSummary() {
    return undefined;
  }
  async updateUserMemories() {}
  async deleteUserData() {
    return 0;
  }
}

describe('Agent: tracing', () => {
  it('makes one buddy.run span per run with model, tool and storage children and GenAI attributes', async () => {
    const agent = new Agent({
      model: toolModel(),
      userId: 'dana',
      storage: new InMemoryStorage(),
      tools: [secretTool],
      logger: silentLogger,
    });
    await agent.run('my secret question');
    const spans = exporter.getFinishedSpans();
    const runs = spans.filter((span) => span.name === 'buddy.run');
    expect(runs).toHaveLength(1);
    const run = runs[0] as ReadableSpan;
    expect(run.attributes).toMatchObject({
      'buddy.session.id': agent.sessionId,
      'buddy.agent.id': agent.agentId,
      'gen_ai.usage.input_tokens': expect.any(Number),
    });
    expect(run.attributes).not.toHaveProperty('buddy.user.id');
    const children = spans.filter((span) => parentOf(span) === run.spanContext().spanId);
    const names = children.map((span) => span.name);
    expect(names.filter((name) => name === 'chat mock-model')).toHaveLength(2);
    expect(names).toContain('execute_tool lookup');
    expect(names).toContain('buddy.storage acquireLease');
    expect(names).toContain('buddy.storage appendRun');
    const chat = children.find((span) => span.name === 'chat mock-model') as ReadableSpan;
    expect(chat.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'mock-model',
      'gen_ai.provider.name': 'mock',
      'gen_ai.usage.input_tokens': expect.any(Number),
      'gen_ai.usage.output_tokens': expect.any(Number),
    });
    const toolSpan = children.find((span) => span.name === 'execute_tool lookup') as ReadableSpan;
    expect(toolSpan.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'lookup',
    });
    // No message text anywhere by default.
    const everything = JSON.stringify(spans.map((span) => span.attributes));
    expect(everything).not.toContain('secret');
    expect(everything).not.toContain('The answer is');
  });

  it('records content and the user id only when asked, and the post-answer span', async () => {
    const agent = new Agent({
      model: toolModel(),
      userId: 'dana',
      tools: [secretTool],
      memory: new AgentMemoryStub(),
      enableSessionSummaries: true,
      telemetry: { recordContent: true, recordUserId: true },
      logger: silentLogger,
    });
    await agent.run('my secret question');
    const spans = exporter.getFinishedSpans();
    const run = spans.find((span) => span.name === 'buddy.run') as ReadableSpan;
    expect(run.attributes['buddy.user.id']).toBe('dana');
    expect(JSON.stringify(spans.map((span) => span.attributes))).toContain('secret plans');
    const post = spans.find((span) => span.name === 'buddy.post_answer');
    expect(post && parentOf(post)).toBe(run.spanContext().spanId);
  });

  it('marks a failed run span as an error and makes no spans with telemetry disabled', async () => {
    const failing = new Agent({
      model: new MockModel({
        respond: () => {
          throw new Error('provider down');
        },
      }),
      logger: silentLogger,
    });
    await expect(failing.run('hi')).rejects.toBeDefined();
    const run = exporter.getFinishedSpans().find((span) => span.name === 'buddy.run');
    expect(run?.status.code).toBe(2);
    exporter.reset();
    const quiet = new Agent({
      model: new MockModel({ replies: ['ok'] }),
      telemetry: { enabled: false },
    });
    await quiet.run('hi');
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
