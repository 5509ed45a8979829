/**
 * Loopback stand-ins for OpenAI's Chat Completions and Anthropic's Messages API, served with
 * `startFixtureServer` from `@buddy/testkit/fetch`, that play the README example's conversation:
 * the chat model calls `add_to_cart` for milk and then confirms; the summarizer's structured
 * request gets a summary, the memory classifier's gets "nothing to remember".
 */
import { type FixtureServer, jsonResponse, startFixtureServer } from '@buddy/testkit/fetch';

/** The structured answer each helper of `@buddy/memory` expects, by response format name. */
function structuredAnswer(name: string | undefined): Record<string, unknown> {
  if (name === 'session_summary')
    return { summary: 'The user added milk to the cart.', topics: ['shopping cart'] };
  if (name === 'memory_classification') return { remember: false, reason: 'no personal fact' };
  return {};
}

const CONFIRMATION = 'Added milk to your cart.';

interface OpenAIBody {
  messages: { role: string }[];
  tools?: { function: { name: string } }[];
  response_format?: { type: string; json_schema?: { name?: string } };
}

/** `POST /v1/chat/completions`; use `${server.url}/v1` as `OPENAI_BASE_URL`. */
export function startFakeOpenAI(): Promise<FixtureServer> {
  return startFixtureServer({
    match: 'POST /v1/chat/completions',
    respond: (request, index) => {
      const body = request.body as OpenAIBody;
      const message: Record<string, unknown> = { role: 'assistant', content: null };
      let finishReason = 'stop';
      if (body.response_format?.type === 'json_schema') {
        message.content = JSON.stringify(structuredAnswer(body.response_format.json_schema?.name));
      } else if (body.messages.at(-1)?.role === 'tool') {
        message.content = CONFIRMATION;
      } else if (body.tools?.some((tool) => tool.function.name === 'add_to_cart')) {
        finishReason = 'tool_calls';
        message.tool_calls = [
          {
            id: `call_${index}`,
            type: 'function',
            function: { name: 'add_to_cart', arguments: '{"item":"milk"}' },
          },
        ];
      } else {
        message.content = 'OK.';
      }
      return jsonResponse({
        id: `chatcmpl-${index}`,
        object: 'chat.completion',
        created: 0,
        model: 'gpt-4o',
        choices: [{ index: 0, message, finish_reason: finishReason, logprobs: null }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      });
    },
  });
}

interface AnthropicBody {
  messages: { role: string; content: string | { type: string }[] }[];
  tools?: { name: string }[];
  tool_choice?: { type: string; name?: string };
}

/** `POST /v1/messages`; use `server.url` as `ANTHROPIC_BASE_URL`. */
export function startFakeAnthropic(): Promise<FixtureServer> {
  return startFixtureServer({
    match: 'POST /v1/messages',
    respond: (request, index) => {
      const body = request.body as AnthropicBody;
      const last = body.messages.at(-1)?.content;
      let content: Record<string, unknown>[];
      let stopReason = 'end_turn';
      if (body.tool_choice?.type === 'tool') {
        stopReason = 'tool_use';
        content = [
          {
            type: 'tool_use',
            id: `toolu_${index}`,
            name: body.tool_choice.name,
            input: structuredAnswer(body.tool_choice.name),
          },
        ];
      } else if (Array.isArray(last) && last.some((block) => block.type === 'tool_result')) {
        content = [{ type: 'text', text: CONFIRMATION }];
      } else if (body.tools?.some((tool) => tool.name === 'add_to_cart')) {
        stopReason = 'tool_use';
        content = [
          { type: 'tool_use', id: `toolu_${index}`, name: 'add_to_cart', input: { item: 'milk' } },
        ];
      } else {
        content = [{ type: 'text', text: 'OK.' }];
      }
      return jsonResponse({
        id: `msg_${index}`,
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-5-5',
        content,
        stop_reason: stopReason,
        stop_sequence: null,
        usage: { input_tokens: 10, output_tokens: 5 },
      });
    },
  });
}
