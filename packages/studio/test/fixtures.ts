/**
 * Test data and models for the Studio's tests: real agent runs (tool calls, state changes) on a
 * real storage, memories, a summary, and a model whose stream can be held mid-answer so a test
 * can watch an answer arrive piece by piece or disconnect in the middle of it.
 */
import {
  Agent,
  BuddyError,
  type MemoryDb,
  type Model,
  type ModelCallOptions,
  type ModelRequest,
  type ModelResponse,
  type ModelStreamPart,
  type SessionStorage,
  silentLogger,
  tool,
} from '@buddy/core';
import { MockModel, type MockReply } from '@buddy/testkit';
import { z } from 'zod';

/** Adds an item to `state.cart`. */
export const addToCart = tool({
  name: 'add_to_cart',
  description: "Add an item to the user's cart.",
  parameters: z.object({ item: z.string().min(1) }),
  execute: ({ item }, { sessionState }) => {
    const cart = Array.isArray(sessionState.cart) ? (sessionState.cart as string[]) : [];
    cart.push(item);
    sessionState.cart = cart;
    return `Added ${item}. The cart holds ${cart.length} item(s).`;
  },
});

/** Places the order for the cart: needs a person's approval (SPEC §16.4) before it runs. */
export const checkout = tool({
  name: 'checkout',
  description: "Place the order for the user's cart.",
  parameters: z.object({}),
  needsApproval: true,
  execute: (_args, { sessionState }) => {
    const cart = Array.isArray(sessionState.cart) ? (sessionState.cart as string[]) : [];
    const orders = typeof sessionState.orders === 'number' ? sessionState.orders : 0;
    sessionState.orders = orders + 1;
    sessionState.cart = [];
    return `Ordered ${cart.length} item(s).`;
  },
});

/** The text of the last user message of a request. */
function lastUserText(request: ModelRequest): string {
  for (let index = request.messages.length - 1; index >= 0; index--) {
    const message = request.messages[index];
    if (message?.role === 'user') return message.content;
  }
  return '';
}

/**
 * A scripted shopping assistant: "add X" calls `add_to_cart({ item: X })` and then confirms;
 * anything else is answered with a fixed sentence.
 */
export function shoppingReply(request: ModelRequest): MockReply {
  const last = request.messages.at(-1);
  if (last?.role === 'tool') return `Done: ${last.content}`;
  if (/\bcheck ?out\b/i.test(lastUserText(request))) {
    return { toolCalls: [{ name: 'checkout', arguments: {} }] };
  }
  const match = /\badd (.+?)(?: to my cart)?[.!]?$/i.exec(lastUserText(request));
  if (match?.[1] !== undefined) {
    return { toolCalls: [{ name: 'add_to_cart', arguments: { item: match[1] } }] };
  }
  return 'Happy to help with your shopping today.';
}

/** Resolves when `open()` is called; re-armable. */
export class Gate {
  #open: () => void = () => {};
  #promise: Promise<void> = Promise.resolve();
  #closed = false;

  /** Makes the next `wait()` block until `open()`. */
  close(): void {
    this.#closed = true;
    this.#promise = new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  open(): void {
    this.#closed = false;
    this.#open();
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  wait(): Promise<void> {
    return this.#promise;
  }
}

/**
 * A `MockModel` whose streamed answers stop after their first text delta while `gate` is closed,
 * so a test sees a partial answer. It records when a held stream was aborted.
 */
export class GatedModel implements Model {
  readonly specificationVersion = 'v1' as const;
  readonly provider = 'mock';
  readonly id = 'gated-mock';
  readonly gate = new Gate();
  readonly #inner: MockModel;
  #aborted: () => void = () => {};
  /** Resolves when a stream held at the gate is aborted (the run was cancelled). */
  readonly aborted: Promise<void> = new Promise((resolve) => {
    this.#aborted = resolve;
  });
  #onHeld: () => void = () => {};

  constructor(respond: (request: ModelRequest) => MockReply = shoppingReply) {
    this.#inner = new MockModel({ respond, provider: 'mock', id: 'gated-mock' });
  }

  /**
   * Closes the gate; resolves when the next streamed answer is held there (its first delta is
   * out). Call it before sending the message.
   */
  holdNextAnswer(): Promise<void> {
    this.gate.close();
    return new Promise((resolve) => {
      this.#onHeld = resolve;
    });
  }

  generate(request: ModelRequest, options?: ModelCallOptions): Promise<ModelResponse> {
    return this.#inner.generate(request, options);
  }

  async *stream(request: ModelRequest, options?: ModelCallOptions): AsyncIterable<ModelStreamPart> {
    let deltas = 0;
    for await (const part of this.#inner.stream(request, options)) {
      if (part.type === 'text-delta' && deltas++ === 1 && this.gate.isClosed) {
        this.#onHeld();
        this.#onHeld = () => {};
        await this.#waitOrAbort(options?.signal);
      }
      yield part;
    }
  }

  async #waitOrAbort(signal: AbortSignal | undefined): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#aborted();
        reject(new BuddyError({ code: 'ABORTED', message: 'GatedModel: aborted at the gate' }));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      void this.gate.wait().then(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
}

/** An agent on `storage` that the Studio can chat with. */
export function createChatAgent(storage: SessionStorage, model: Model = new GatedModel()): Agent {
  return new Agent({
    model,
    storage,
    tools: [addToCart, checkout],
    sessionState: { cart: [] },
    logger: silentLogger,
    sessionLease: { waitMs: 2_000 },
  });
}

/** What `seedStudioData` wrote. */
export interface SeededData {
  /** Dana's shopping session: two runs (one with a tool call), a summary. */
  danaCart: string;
  /** Dana's other sessions, newest last. */
  danaOthers: string[];
  /** Eve's session, whose name, messages and state hold HTML/script payloads. */
  eveSession: string;
  /** A session without owner. */
  orphanSession: string;
}

/** Text that would run script if any part of the UI rendered stored data as HTML. */
export const XSS_PAYLOADS = {
  name: '<script>window.__xss = "name"</script>Eve plans',
  message: '<img src=x onerror="window.__xss = \'message\'"> <script>window.__xss = "m2"</script>',
  memory: '<script>window.__xss = "memory"</script>Eve likes <b>bold</b> tea',
  stateKey: '<svg onload="window.__xss = \'state\'">',
} as const;

/**
 * Writes the test world through a real agent (so runs, tool calls, usage and `stateAfter` are
 * genuine) plus memories and a summary.
 */
export async function seedStudioData(
  storage: SessionStorage,
  memoryDb: MemoryDb | undefined,
): Promise<SeededData> {
  const agent = new Agent({
    model: new MockModel({ respond: shoppingReply }),
    storage,
    tools: [addToCart],
    sessionState: { cart: [] },
    logger: silentLogger,
  });
  const danaOthers: string[] = [];
  for (let index = 1; index <= 2; index++) {
    const sessionId = `old-chat-${index}`;
    await agent.run(`Hello number ${index}`, { sessionId, userId: 'dana' });
    await storage.upsertSession({ sessionId, sessionName: `Earlier chat ${index}` });
    danaOthers.push(sessionId);
  }
  const danaCart = 'groceries-week-48';
  await agent.run('Add oat milk to my cart', { sessionId: danaCart, userId: 'dana' });
  await agent.run('What a nice day', { sessionId: danaCart, userId: 'dana' });
  await storage.upsertSession({
    sessionId: danaCart,
    sessionName: 'Weekly groceries',
    summary: {
      summary: 'Dana added oat milk to the cart.',
      topics: ['groceries', 'cart'],
      runsCovered: 1,
      updatedAt: Date.now(),
    },
  });

  const eveSession = 'plans-<script>-1';
  await agent.run(XSS_PAYLOADS.message, {
    sessionId: eveSession,
    userId: 'eve',
    sessionState: { [XSS_PAYLOADS.stateKey]: '<script>window.__xss = "value"</script>' },
  });
  await storage.upsertSession({ sessionId: eveSession, sessionName: XSS_PAYLOADS.name });

  const orphanSession = 'no-owner';
  await agent.run('Who am I?', { sessionId: orphanSession });

  if (memoryDb !== undefined) {
    const now = Date.now();
    await memoryDb.upsertMemory({
      userId: 'dana',
      memory: 'Dana is allergic to peanuts.',
      topics: ['health'],
      input: 'I am allergic to peanuts',
      createdAt: now - 60_000,
      updatedAt: now - 60_000,
    });
    await memoryDb.upsertMemory({
      userId: 'dana',
      memory: 'Dana prefers oat milk.',
      topics: ['preferences', 'groceries'],
      createdAt: now - 1_000,
      updatedAt: now,
    });
    await memoryDb.upsertMemory({
      userId: 'eve',
      memory: XSS_PAYLOADS.memory,
      topics: ['<i>x</i>'],
    });
  }
  return { danaCart, danaOthers, eveSession, orphanSession };
}
