import { expectBuddyThrow } from '@buddy/testkit/fetch';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { describe, expect, it } from 'vitest';
import { OpenAIChat } from './openai-chat.ts';
import { encodingForModel, loadTokenCounter } from './token-counter.ts';

// js-tiktoken (a separate port of OpenAI's tiktoken) is the oracle for the counts.
const oracles = { o200k_base: new Tiktoken(o200k), cl100k_base: new Tiktoken(cl100k) };
const count = (encoding: keyof typeof oracles, text: string) =>
  oracles[encoding].encode(text, [], []).length;

const SAMPLE = [
  'Remember that I take my coffee black, and that my flight to 東京 leaves at 07:45.',
  '{"tool":"add_to_cart","arguments":{"item":"milk","quantity":2}} 😀 naïve café',
  'function add(a, b) {\n  return a + b;\n}\n'.repeat(20),
].join('\n');

describe('encodingForModel', () => {
  it.each([
    ['gpt-4o', 'o200k_base'],
    ['gpt-4o-mini-2024-07-18', 'o200k_base'],
    ['chatgpt-4o-latest', 'o200k_base'],
    ['gpt-4.1-nano', 'o200k_base'],
    ['gpt-4.5-preview', 'o200k_base'],
    ['gpt-5', 'o200k_base'],
    ['o1', 'o200k_base'],
    ['o4-mini', 'o200k_base'],
    ['ft:gpt-4o-mini:acme::abc123', 'o200k_base'],
    ['llama3.1', 'o200k_base'],
    ['gpt-4', 'cl100k_base'],
    ['gpt-4-turbo-2024-04-09', 'cl100k_base'],
    ['gpt-4-0613', 'cl100k_base'],
    ['gpt-3.5-turbo', 'cl100k_base'],
    ['gpt-35-turbo', 'cl100k_base'],
    ['ft:gpt-3.5-turbo:acme::abc123', 'cl100k_base'],
    ['text-embedding-3-small', 'cl100k_base'],
    ['text-embedding-ada-002', 'cl100k_base'],
  ] as const)('%s uses %s', (id, encoding) => {
    expect(encodingForModel(id)).toBe(encoding);
  });
});

describe('OpenAIChat.countTokens', () => {
  it('counts with o200k_base for gpt-4o and cl100k_base for gpt-4, as tiktoken does', () => {
    const o200kCount = count('o200k_base', SAMPLE);
    const cl100kCount = count('cl100k_base', SAMPLE);
    expect(o200kCount).not.toBe(cl100kCount); // the sample tells the encodings apart
    expect(new OpenAIChat({ id: 'gpt-4o' }).countTokens(SAMPLE)).toBe(o200kCount);
    expect(new OpenAIChat({ id: 'o3-mini' }).countTokens(SAMPLE)).toBe(o200kCount);
    expect(new OpenAIChat({ id: 'gpt-4' }).countTokens(SAMPLE)).toBe(cl100kCount);
    expect(new OpenAIChat({ id: 'gpt-3.5-turbo' }).countTokens(SAMPLE)).toBe(cl100kCount);
  });

  it('counts the empty text as 0 and well-known texts exactly', () => {
    const model = new OpenAIChat({ id: 'gpt-4o' });
    expect(model.countTokens('')).toBe(0);
    expect(model.countTokens('Hello, world!')).toBe(4);
    expect(model.countTokens('hello '.repeat(1000))).toBe(
      count('o200k_base', 'hello '.repeat(1000)),
    );
  });

  it('counts special-token text as plain text instead of throwing', () => {
    const text = 'A user typed <|endoftext|> and <|im_start|> into the chat.';
    expect(new OpenAIChat({ id: 'gpt-4o' }).countTokens(text)).toBe(count('o200k_base', text));
    expect(new OpenAIChat({ id: 'gpt-4' }).countTokens(text)).toBe(count('cl100k_base', text));
  });

  it('needs no key and no network', () => {
    const model = new OpenAIChat({ id: 'gpt-4o', baseURL: 'http://127.0.0.1:9/v1' });
    expect(model.countTokens('offline')).toBe(count('o200k_base', 'offline'));
  });

  it('rejects a text that is not a string with INVALID_ARGUMENT', () => {
    const error = expectBuddyThrow(() => new OpenAIChat().countTokens(42 as never));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('countTokens(text) needs a string, got 42');
  });
});

describe('loadTokenCounter', () => {
  it('fails with MODEL_NOT_CONFIGURED naming gpt-tokenizer when it is not installed', () => {
    const requireMissing = (specifier: string) => {
      throw Object.assign(new Error(`Cannot find module '${specifier}'`), {
        code: 'MODULE_NOT_FOUND',
      });
    };
    const error = expectBuddyThrow(() =>
      loadTokenCounter('o200k_base', 'OpenAIChat(gpt-4o)', requireMissing),
    );
    expect(error.code).toBe('MODEL_NOT_CONFIGURED');
    expect(error.message).toContain(
      'OpenAIChat(gpt-4o): countTokens needs the optional package gpt-tokenizer',
    );
    expect(error.message).toContain('pnpm add gpt-tokenizer@^4');
    expect(error.details).toEqual({ package: 'gpt-tokenizer' });
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('loads gpt-tokenizer/encoding/<encoding> once, on the first count', () => {
    const loaded: string[] = [];
    const fake = (specifier: string) => {
      loaded.push(specifier);
      return { countTokens: (text: string) => text.split(' ').length };
    };
    const counter = loadTokenCounter('cl100k_base', 'who', fake);
    expect(loaded).toEqual(['gpt-tokenizer/encoding/cl100k_base']);
    expect(counter('a b c')).toBe(3);
    expect(counter('a b')).toBe(2);
    expect(loaded).toHaveLength(1);
  });

  it('reports a package without countTokens as MODEL_NOT_CONFIGURED', () => {
    const error = expectBuddyThrow(() => loadTokenCounter('o200k_base', 'who', () => ({})));
    expect(error.code).toBe('MODEL_NOT_CONFIGURED');
    expect(error.message).toContain('install gpt-tokenizer ^4');
  });
});
