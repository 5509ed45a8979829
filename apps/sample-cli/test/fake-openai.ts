/**
 * A loopback OpenAI-compatible server for the REPL's tests (`startFixtureServer` from
 * `@buddy/testkit/fetch`). The chat model calls `add_to_cart` for milk, then confirms; the
 * summarizer and the memory classifier get valid structured answers. Any kind of request can be
 * held until the test releases it, so a test can look at the terminal while the REPL waits
 * (a slow turn, the post-answer work) without racing a timer.
 */
import {
  type FixtureServer,
  jsonResponse,
  sseResponse,
  startFixtureServer,
} from '@buddy/testkit/fetch';

/** The kinds of request the REPL sends. */
export type RequestKind = 'chat' | 'tool-result' | 'summary' | 'classifier';

interface Body {
  stream?: boolean;
  messages: { role: string }[];
  tools?: { function: { name: string } }[];
  response_format?: { json_schema?: { name?: string } };
}

function kindOf(body: Body): RequestKind {
  const format = body.response_format?.json_schema?.name;
  if (format === 'session_summary') return 'summary';
  if (format !== undefined) return 'classifier';
  return body.messages.at(-1)?.role === 'tool' ? 'tool-result' : 'chat';
}

/** A running fake server and its controls. */
export interface FakeOpenAI {
  server: FixtureServer;
  /** `OPENAI_BASE_URL` for the child process. */
  baseUrl: string;
  /** How many requests of each kind arrived so far. */
  received(kind: RequestKind): number;
  /** Holds every later request of `kind` until `release(kind)` (or until its client gives up). */
  hold(kind: RequestKind): void;
  release(kind: RequestKind): void;
}

/** Starts the fake on a loopback port; `server.close()` it after the tests. */
export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const counts = new Map<RequestKind, number>();
  const held = new Map<RequestKind, { promise: Promise<void>; release: () => void }>();
  const server = await startFixtureServer({
    match: 'POST /chat/completions',
    respond: async (request, index) => {
      const body = request.body as Body;
      const kind = kindOf(body);
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      await held.get(kind)?.promise;
      const id = `chatcmpl-${index}`;
      const message: { content: string | null; tool_calls?: unknown[] } = { content: null };
      let finish = 'stop';
      if (kind === 'summary')
        message.content = JSON.stringify({ summary: 'The user added milk.', topics: ['cart'] });
      else if (kind === 'classifier')
        message.content = JSON.stringify({ remember: false, reason: 'no personal fact' });
      else if (kind === 'tool-result') message.content = 'Added milk to your cart.';
      else if (body.tools?.some((tool) => tool.function.name === 'add_to_cart')) {
        finish = 'tool_calls';
        message.tool_calls = [
          {
            index: 0,
            id: `call_${index}`,
            type: 'function',
            function: { name: 'add_to_cart', arguments: '{"item":"milk"}' },
          },
        ];
      } else message.content = 'OK.';
      const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
      if (body.stream !== true) {
        return jsonResponse({
          id,
          object: 'chat.completion',
          created: 0,
          model: 'gpt-4o',
          choices: [
            { index: 0, message: { role: 'assistant', ...message }, finish_reason: finish },
          ],
          usage,
        });
      }
      const chunk = (delta: unknown, finishReason: string | null) => ({
        id,
        object: 'chat.completion.chunk',
        created: 0,
        model: 'gpt-4o',
        choices: [{ index: 0, delta, finish_reason: finishReason }],
      });
      return sseResponse(
        [
          chunk({ role: 'assistant', ...message }, null),
          chunk({}, finish),
          { ...chunk({}, null), choices: [], usage },
        ],
        { dialect: 'openai' },
      );
    },
  });
  return {
    server,
    baseUrl: `${server.url}/v1`,
    received: (kind) => counts.get(kind) ?? 0,
    hold: (kind) => {
      let release = () => {};
      const promise = new Promise<void>((resolve) => {
        release = resolve;
      });
      held.set(kind, { promise, release });
    },
    release: (kind) => {
      held.get(kind)?.release();
      held.delete(kind);
    },
  };
}
