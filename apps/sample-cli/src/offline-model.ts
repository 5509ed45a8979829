/**
 * `OfflineModel`: the sample app's built-in deterministic model. No network, no keys: it reads
 * the same requests a real model would get (system message with templated state, memories and
 * summary; history; tools; structured-output requests from the summarizer and the memory
 * helpers) and answers with simple rules, so every Buddy feature can be shown offline.
 *
 * It is a demo, not a language model: it understands a handful of phrasings (see `HELP_TEXT`).
 */
import type {
  Message,
  Model,
  ModelCallOptions,
  ModelRequest,
  ModelResponse,
  ModelStreamPart,
  ToolCall,
} from '@buddy/core';
import { BuddyError, estimateTokens } from '@buddy/core';

/** What the offline model understands, shown when the REPL starts on it. */
export const HELP_TEXT = [
  'The offline model understands, for example:',
  '  add oat milk and eggs to my cart · remove eggs · what is in my cart? · check out',
  '  my name is Dana · I am allergic to peanuts · I like jazz',
  '  what do you know about me? · what do you remember about my coffee habits?',
  '  what did we talk about last time? · summarize',
].join('\n');

interface Answer {
  content?: string;
  toolCalls?: { name: string; arguments: object }[];
}

const FACT_PATTERNS: {
  pattern: RegExp;
  memory: (match: RegExpExecArray) => string;
  topic: string;
}[] = [
  {
    pattern: /\bmy name is ([\p{L}'-]+)/iu,
    memory: (m) => `The user's name is ${capitalize(m[1] ?? '')}.`,
    topic: 'name',
  },
  {
    pattern: /\bi(?:'m| am) allergic to ([^.,!?]+)/i,
    memory: (m) => `The user is allergic to ${clean(m[1])}.`,
    topic: 'health',
  },
  {
    pattern: /\bi (?:really )?(?:like|love|enjoy) ([^.,!?]+)/i,
    memory: (m) => `The user likes ${clean(m[1])}.`,
    topic: 'preferences',
  },
  {
    pattern: /\bi prefer ([^.,!?]+)/i,
    memory: (m) => `The user prefers ${clean(m[1])}.`,
    topic: 'preferences',
  },
  {
    pattern: /\bi (?:live|am based) in ([^.,!?]+)/i,
    memory: (m) => `The user lives in ${clean(m[1])}.`,
    topic: 'location',
  },
  {
    pattern: /\bi work (?:as|at) ([^.,!?]+)/i,
    memory: (m) => `The user works as/at ${clean(m[1])}.`,
    topic: 'work',
  },
  {
    pattern: /\bmy goal is ([^.!?]+)/i,
    memory: (m) => `The user's goal is ${clean(m[1])}.`,
    topic: 'goals',
  },
];

function clean(text: string | undefined): string {
  return (text ?? '').trim().replace(/\s+/g, ' ');
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** The facts worth remembering in a user message (the classifier's and manager's rules). */
export function extractFacts(text: string): { memory: string; topic: string }[] {
  const facts: { memory: string; topic: string }[] = [];
  for (const { pattern, memory, topic } of FACT_PATTERNS) {
    const match = pattern.exec(text);
    if (match !== null) facts.push({ memory: memory(match), topic });
  }
  return facts;
}

function between(text: string, open: string, close: string): string | undefined {
  const start = text.indexOf(open);
  const end = text.indexOf(close, start + open.length);
  return start === -1 || end === -1 ? undefined : text.slice(start + open.length, end).trim();
}

function systemText(request: ModelRequest): string {
  return request.messages
    .filter((message) => message.role === 'system')
    .map((message) => message.content)
    .join('\n');
}

function lastUserText(messages: readonly Message[]): string {
  for (let index = messages.length - 1; index >= 0; index--) {
    const message = messages[index];
    if (message?.role === 'user') return message.content;
  }
  return '';
}

/** Items named in "add oat milk, bread and eggs to my cart". */
function itemsIn(text: string): string[] {
  const match =
    /\b(?:add|put|buy)\s+(.+?)(?:\s+(?:to|in|into|on)\s+(?:my|the)\s+(?:cart|basket|list))?[.!?]*$/i.exec(
      text.trim(),
    );
  if (match?.[1] === undefined) return [];
  return match[1]
    .split(/\s*(?:,|\band\b|&)\s*/i)
    .map((item) => item.replace(/^(?:some|a|an|the)\s+/i, '').trim())
    .filter((item) => item !== '');
}

function hasTool(request: ModelRequest, name: string): boolean {
  return request.tools?.some((definition) => definition.name === name) ?? false;
}

/** What the JSON-answer helpers (summarizer, classifier) get: computed from their prompt. */
function structuredAnswer(request: ModelRequest): string {
  const format = request.responseFormat;
  const prompt = request.messages.map((message) => message.content).join('\n');
  const schemaProperties = (format?.schema.properties ?? {}) as Record<string, { type?: unknown }>;
  const properties = Object.keys(schemaProperties);
  if (properties.includes('summary')) return JSON.stringify(summarize(prompt));
  // A yes/no classifier: remember when the message states a personal fact.
  const booleanKey = properties.find((key) => schemaProperties[key]?.type === 'boolean');
  if (booleanKey !== undefined) {
    const message = lastUserText(request.messages);
    const facts = extractFacts(between(message, '<user_message>', '</user_message>') ?? message);
    return JSON.stringify({
      [booleanKey]: facts.length > 0,
      reason: facts.length > 0 ? 'states a personal fact' : 'no personal fact',
    });
  }
  throw new BuddyError({
    code: 'MODEL_BAD_RESPONSE',
    message: `OfflineModel: no rule for structured output ${format?.name ?? '(unnamed)'}`,
  });
}

/** A deterministic summary: the previous one plus one sentence per new exchange. */
function summarize(prompt: string): { summary: string; topics: string[] } {
  const previous = between(prompt, '<previous_summary>', '</previous_summary>')?.split(
    '\nTopics:',
  )[0];
  const conversation = between(prompt, '<conversation>', '</conversation>') ?? prompt;
  const sentences: string[] = [];
  const topics = new Set<string>();
  for (const line of conversation.split('\n')) {
    if (!line.startsWith('User: ')) continue;
    const said = line.slice('User: '.length).trim();
    const items = itemsIn(said);
    if (items.length > 0) {
      sentences.push(`The user added ${items.join(', ')} to the cart.`);
      topics.add('shopping cart');
    } else if (/\bcheck\s?out\b/i.test(said)) {
      sentences.push('The user checked out the cart.');
      topics.add('shopping cart');
    } else if (/remove/i.test(said)) {
      sentences.push(`The user changed the cart ("${said}").`);
      topics.add('shopping cart');
    } else if (extractFacts(said).length > 0) {
      sentences.push(...extractFacts(said).map((fact) => fact.memory));
      topics.add('personal details');
    } else if (/cart/i.test(said)) {
      sentences.push('The user checked the cart.');
      topics.add('shopping cart');
    } else {
      sentences.push(`The user said: "${said.length > 80 ? `${said.slice(0, 77)}...` : said}".`);
      topics.add('conversation');
    }
  }
  const previousTopics = /Topics: (.+)/.exec(
    between(prompt, '<previous_summary>', '</previous_summary>') ?? '',
  )?.[1];
  for (const topic of previousTopics?.split(',') ?? [])
    if (topic.trim() !== '') topics.add(topic.trim());
  const summary = [previous, ...sentences]
    .filter((part) => part !== undefined && part !== '')
    .join(' ');
  return {
    summary: summary === '' ? 'Nothing of note was discussed.' : summary,
    topics: [...topics],
  };
}

/** The memory manager's turn: add memories for new facts, skip what is already remembered. */
function manageMemories(request: ModelRequest): Answer {
  if (request.messages.at(-1)?.role === 'tool') return { content: 'Memories updated.' };
  const prompt = request.messages.map((message) => message.content).join('\n');
  const message = between(prompt, '<message>', '</message>') ?? lastUserText(request.messages);
  const known = prompt.toLowerCase();
  const facts = extractFacts(message).filter((fact) => !known.includes(fact.memory.toLowerCase()));
  if (facts.length === 0) return { content: 'Nothing new to remember.' };
  return {
    toolCalls: facts.map((fact) => ({
      name: 'add_memory',
      arguments: { memory: fact.memory, topics: [fact.topic] },
    })),
  };
}

function titleFor(request: ModelRequest): string {
  const transcript = lastUserText(request.messages);
  const firstUser = /User: (.+)/.exec(transcript)?.[1] ?? transcript;
  if (/cart|add|buy/i.test(transcript)) return 'Groceries and shopping cart';
  return firstUser
    .split(/\s+/)
    .slice(0, 4)
    .join(' ')
    .replace(/[.!?,;:]+$/, '');
}

/** The cart as the templated instructions show it ("The user's cart holds: [...]"). */
function cartIn(system: string): string[] | undefined {
  const parsed = safeJson(/cart holds: (.*)/i.exec(system)?.[1]?.trim() ?? '');
  return Array.isArray(parsed) ? parsed.map(String) : undefined;
}

/**
 * The cart's total by the price list of the instructions ("Prices (USD): milk 1.20, …; anything
 * else 3.00."), in cents; `undefined` when the instructions have no price list.
 */
function totalCents(system: string, cart: readonly string[]): number | undefined {
  const list = /Prices \(USD\): (.*?); anything else (\d+(?:\.\d+)?)\./.exec(system);
  if (list?.[1] === undefined || list[2] === undefined) return undefined;
  const prices = new Map<string, number>();
  for (const entry of list[1].split(/,\s*/)) {
    const match = /^(.+) (\d+(?:\.\d+)?)$/.exec(entry.trim());
    if (match?.[1] !== undefined && match[2] !== undefined)
      prices.set(match[1].toLowerCase(), Math.round(Number(match[2]) * 100));
  }
  const otherwise = Math.round(Number(list[2]) * 100);
  return cart.reduce((sum, item) => sum + (prices.get(item.toLowerCase()) ?? otherwise), 0);
}

/** "check out" / "checkout" / "pay": a checkout call with the cart's total, or why not. */
function checkoutAnswer(system: string): Answer {
  const cart = cartIn(system);
  if (cart === undefined) return { content: "I can't see your cart from here." };
  if (cart.length === 0) return { content: 'Your cart is empty: there is nothing to check out.' };
  const cents = totalCents(system, cart);
  if (cents === undefined) return { content: "I don't know the prices, so I can't check out." };
  return { toolCalls: [{ name: 'checkout', arguments: { total: cents / 100 } }] };
}

/** The chat turn of the agent itself. */
function chat(request: ModelRequest): Answer {
  const system = systemText(request);
  const last = request.messages.at(-1);
  if (last?.role === 'tool') {
    const results: string[] = [];
    for (let index = request.messages.length - 1; index >= 0; index--) {
      const message = request.messages[index];
      if (message?.role !== 'tool') break;
      results.unshift(message.content);
    }
    if (results.length === 1 && results[0]?.startsWith('[{"sessionId"'))
      return { content: describePreviousSessions(results[0]) };
    if (results.length === 1 && results[0]?.startsWith('No previous sessions'))
      return {
        content: "This is our first conversation — I don't have earlier sessions with you.",
      };
    const denied = /^Error: denied: (.*)$/s.exec(results.length === 1 ? (results[0] ?? '') : '');
    if (denied !== null && last.toolName === 'checkout')
      return { content: `OK, I did not check out (${denied[1]}). Your cart is unchanged.` };
    return { content: results.join(' ') };
  }
  const text = lastUserText(request.messages);
  const lower = text.toLowerCase();
  const items = itemsIn(text);
  if (items.length > 0 && hasTool(request, 'add_to_cart')) {
    return { toolCalls: items.map((item) => ({ name: 'add_to_cart', arguments: { item } })) };
  }
  if (/\b(check\s?out|pay for)\b/.test(lower) && hasTool(request, 'checkout')) {
    return checkoutAnswer(system);
  }
  const removal = /\bremove\s+(.+?)(?:\s+from\s+(?:my|the)\s+cart)?[.!?]*$/i.exec(text);
  if (removal?.[1] !== undefined && hasTool(request, 'remove_from_cart')) {
    return { toolCalls: [{ name: 'remove_from_cart', arguments: { item: removal[1].trim() } }] };
  }
  if (/\b(cart|basket)\b/.test(lower)) {
    const cart = cartIn(system);
    if (cart === undefined) return { content: "I can't see your cart from here." };
    return {
      content: cart.length === 0 ? 'Your cart is empty.' : `Your cart holds: ${cart.join(', ')}.`,
    };
  }
  if (
    /(last time|previous (session|conversation)|before today|earlier session)/.test(lower) &&
    hasTool(request, 'get_previous_session_messages')
  ) {
    return { toolCalls: [{ name: 'get_previous_session_messages', arguments: {} }] };
  }
  if (/\b(know|remember) about (me|my)\b/.test(lower)) {
    const memories = between(
      system,
      '<memories_from_previous_interactions>',
      '</memories_from_previous_interactions>',
    );
    return {
      content:
        memories === undefined
          ? "I don't know anything about you yet."
          : `Here is what I remember about you:\n${memories}`,
    };
  }
  if (/(summar|what did we (talk|discuss))/.test(lower)) {
    const summary = between(
      system,
      '<summary_of_previous_interactions>',
      '</summary_of_previous_interactions>',
    );
    return {
      content: summary === undefined ? 'We have only just started talking.' : `So far: ${summary}`,
    };
  }
  const facts = extractFacts(text);
  if (facts.length > 0) {
    const name = /my name is ([\p{L}'-]+)/iu.exec(text)?.[1];
    return {
      content: `${name === undefined ? 'Noted' : `Nice to meet you, ${capitalize(name)}`} — I'll keep that in mind.`,
    };
  }
  const userId = /You are talking to (.+?)\.\s*$/m.exec(system)?.[1];
  return {
    content: `I'm Buddy's offline demo model${userId === undefined ? '' : `, talking to ${userId}`}. I can manage your cart and remember things about you. Try "add oat milk to my cart".`,
  };
}

function describePreviousSessions(json: string): string {
  const sessions = safeJson(json) as
    | { sessionName?: string; messages: { role: string; content: string }[] }[]
    | undefined;
  if (!Array.isArray(sessions) || sessions.length === 0)
    return "I don't have earlier sessions with you.";
  const lines = sessions.map((session) => {
    const asked = session.messages
      .filter((message) => message.role === 'user')
      .map((message) => `"${message.content}"`);
    return `- ${session.sessionName ?? 'an unnamed session'}: you said ${asked.join(', ') || 'nothing'}`;
  });
  return `Last time we talked about:\n${lines.join('\n')}`;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isChatRequest(request: ModelRequest): boolean {
  return (
    request.responseFormat === undefined &&
    !hasTool(request, 'add_memory') &&
    !systemText(request).includes('You name conversations')
  );
}

function respond(request: ModelRequest): Answer {
  if (request.responseFormat !== undefined) return { content: structuredAnswer(request) };
  if (hasTool(request, 'add_memory')) return manageMemories(request);
  if (systemText(request).includes('You name conversations')) return { content: titleFor(request) };
  return chat(request);
}

function usageOf(request: ModelRequest, answer: ModelResponse): ModelResponse['usage'] {
  const input =
    request.messages.map((message) => message.content).join('\n') +
    JSON.stringify(request.tools ?? []);
  const output = answer.content + answer.toolCalls.map((call) => call.arguments).join('');
  return { inputTokens: estimateTokens(input), outputTokens: estimateTokens(output) };
}

/**
 * @example
 * const agent = new Agent({ model: new OfflineModel(), tools: cartTools });
 */
export class OfflineModel implements Model {
  readonly specificationVersion = 'v1' as const;
  readonly provider = 'buddy-offline';
  readonly id = 'rules-v1';
  #calls = 0;
  #lastChatRequest: ModelRequest | undefined;

  /** The last request of the agent's own chat (not the summarizer's or memory helpers'). */
  get lastChatRequest(): ModelRequest | undefined {
    return this.#lastChatRequest;
  }

  async generate(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelResponse> {
    if (options.signal?.aborted) {
      throw new BuddyError({
        code: 'ABORTED',
        message: 'OfflineModel: aborted',
        cause: options.signal.reason,
      });
    }
    const answer = respond(request);
    if (isChatRequest(request)) this.#lastChatRequest = structuredClone(request);
    this.#calls += 1;
    const toolCalls: ToolCall[] = (answer.toolCalls ?? []).map((call, index) => ({
      id: `offline_${this.#calls}_${index + 1}`,
      name: call.name,
      arguments: JSON.stringify(call.arguments),
    }));
    const response: ModelResponse = {
      content: answer.content ?? '',
      toolCalls,
      usage: { inputTokens: 0, outputTokens: 0 },
      finishReason: toolCalls.length > 0 ? 'tool-calls' : 'stop',
    };
    response.usage = usageOf(request, response);
    return response;
  }

  async *stream(
    request: ModelRequest,
    options: ModelCallOptions = {},
  ): AsyncIterable<ModelStreamPart> {
    const response = await this.generate(request, options);
    for (const delta of response.content.match(/\S+\s*|\s+/g) ?? []) {
      // A short pause per word makes streaming visible in the terminal.
      await new Promise((resolve) => setTimeout(resolve, 4));
      yield { type: 'text-delta', delta };
    }
    for (const toolCall of response.toolCalls) yield { type: 'tool-call', toolCall };
    yield { type: 'finish', usage: response.usage, finishReason: response.finishReason };
  }
}
