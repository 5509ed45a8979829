/**
 * Which tokenizer library `OpenAIChat.countTokens` uses: counts 100 kB of mixed text (prose with
 * accents, CJK and emoji, JSON tool results, code) with `gpt-tokenizer`, `js-tiktoken` (pure JS)
 * and `tiktoken` (WASM), for o200k_base and cl100k_base, each library in a fresh process, and
 * checks that they agree on the count.
 *
 *   pnpm --filter @buddy/model-openai bench:tokenizer
 *
 * Columns: load = import + building the encoder; first = the first 100 kB count; fresh = median
 * over 10 other 100 kB texts; repeat = median of the same text again (caches warm). Milliseconds.
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const LIBRARIES = ['gpt-tokenizer', 'js-tiktoken', 'tiktoken'];
const ENCODINGS = ['o200k_base', 'cl100k_base'];
const BYTES = 100_000;

const WORDS = (
  'the a memory agent session user remembers coffee Paris weather tomorrow cart milk bread tool ' +
  'result assistant summary context budget token window model request stream delta JSON schema ' +
  'function arguments error retry timeout database Redis SQLite PostgreSQL vector embedding cosine ' +
  'similarity ranking relevant topic question answer because however therefore meanwhile café ' +
  'naïve résumé 東京 データ 😀 über straße'
).split(' ');

/** A deterministic text of about `bytes` UTF-8 bytes (seeded linear congruential generator). */
function corpus(seed, bytes = BYTES) {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const word = () => WORDS[Math.floor(next() * WORDS.length)];
  const parts = [];
  let size = 0;
  while (size < bytes) {
    const kind = next();
    let part;
    if (kind < 0.7) {
      const words = Array.from({ length: 8 + Math.floor(next() * 20) }, word);
      part = `${words.join(' ')}${next() < 0.5 ? '.' : ','} `;
    } else if (kind < 0.85) {
      part = `\n{"id":${Math.floor(next() * 1e6)},"item":"${word()}","price":${(next() * 100).toFixed(2)},"tags":["a","b"]}\n`;
    } else {
      part = `\nfunction f${Math.floor(next() * 1000)}(x) {\n  return x.map((v) => v * ${Math.floor(next() * 10)});\n}\n`;
    }
    parts.push(part);
    size += Buffer.byteLength(part);
  }
  return parts.join('');
}

const loaders = {
  'gpt-tokenizer': async (encoding) => {
    const tokenizer = await import(`gpt-tokenizer/encoding/${encoding}`);
    const plain = { disallowedSpecial: new Set() };
    return (text) => tokenizer.countTokens(text, plain);
  },
  'js-tiktoken': async (encoding) => {
    const { Tiktoken } = await import('js-tiktoken/lite');
    const ranks = (await import(`js-tiktoken/ranks/${encoding}`)).default;
    const encoder = new Tiktoken(ranks);
    return (text) => encoder.encode(text, [], []).length;
  },
  tiktoken: async (encoding) => {
    const { get_encoding } = await import('tiktoken');
    const encoder = get_encoding(encoding);
    return (text) => encoder.encode(text, [], []).length;
  },
};

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const round = (value) => Math.round(value * 10) / 10;

/** One library and encoding, in this process: prints one JSON line. */
async function measure(library, encoding) {
  const started = performance.now();
  const count = await loaders[library](encoding);
  const load = performance.now() - started;
  const text = corpus(1);
  let at = performance.now();
  const tokens = count(text);
  const first = performance.now() - at;
  const fresh = [];
  for (let seed = 2; seed < 12; seed++) {
    const other = corpus(seed);
    at = performance.now();
    count(other);
    fresh.push(performance.now() - at);
  }
  const repeat = [];
  for (let run = 0; run < 10; run++) {
    at = performance.now();
    count(text);
    repeat.push(performance.now() - at);
  }
  process.stdout.write(
    `${JSON.stringify({
      library,
      encoding,
      tokens,
      load: round(load),
      first: round(first),
      fresh: round(median(fresh)),
      repeat: round(median(repeat)),
      rssMB: Math.round(process.memoryUsage().rss / 1e6),
    })}\n`,
  );
}

if (process.argv[2] === '--one') {
  await measure(process.argv[3], process.argv[4]);
} else {
  const script = fileURLToPath(import.meta.url);
  const rows = [];
  for (const encoding of ENCODINGS) {
    for (const library of LIBRARIES) {
      const output = execFileSync(process.execPath, [script, '--one', library, encoding], {
        encoding: 'utf8',
      });
      rows.push(JSON.parse(output));
    }
  }
  const header = 'encoding     library        tokens  load  first  fresh  repeat  rss MB';
  const lines = rows.map((row) =>
    [
      row.encoding.padEnd(12),
      row.library.padEnd(13),
      String(row.tokens).padStart(7),
      String(row.load).padStart(5),
      String(row.first).padStart(6),
      String(row.fresh).padStart(6),
      String(row.repeat).padStart(7),
      String(row.rssMB).padStart(7),
    ].join(' '),
  );
  process.stdout.write(`100 kB of text, milliseconds, Node ${process.version}\n${header}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
  for (const encoding of ENCODINGS) {
    const counts = new Set(
      rows.filter((row) => row.encoding === encoding).map((row) => row.tokens),
    );
    if (counts.size !== 1) {
      process.stdout.write(`MISMATCH: ${encoding} counts differ: ${[...counts].join(', ')}\n`);
      process.exitCode = 1;
    }
  }
}
