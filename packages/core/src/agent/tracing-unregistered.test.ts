/**
 * Tracing with `@opentelemetry/api` installed but no tracer provider registered (the usual case
 * when it comes as a dependency of something else): a run makes no span at all, and the moment a
 * provider is registered, runs are traced by it.
 */

import { MockModel } from '@buddy/testkit';
import { ProxyTracer, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Agent } from './agent.ts';

afterAll(() => {
  trace.disable();
});

describe('Tracing without a registered tracer provider', () => {
  it('starts no span for a run, and traces once a provider is registered', async () => {
    const proxySpans = vi.spyOn(ProxyTracer.prototype, 'startSpan');
    const agent = new Agent({ model: new MockModel({ replies: ['one', 'two'] }) });
    expect((await agent.run('hi')).content).toBe('one');
    expect(proxySpans).not.toHaveBeenCalled();

    const exporter = new InMemorySpanExporter();
    const registered = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    trace.setGlobalTracerProvider(registered);
    expect((await agent.run('again')).content).toBe('two');
    expect(exporter.getFinishedSpans().map((span) => span.name)).toContain('buddy.run');
    proxySpans.mockRestore();
    await registered.shutdown();
  });
});
