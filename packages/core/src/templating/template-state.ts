/**
 * `{key}` templating for `addStateInMessages` (SPEC §2.5).
 *
 * `{key}` is replaced when `key` is an own top-level key of the values; strings go in as they are,
 * everything else as JSON. `{ key }` (spaces), unknown keys, nested paths (`{a.b}` unless a key is
 * literally `a.b`) and JSON such as `{"a": 1}` stay as written. There are no escapes, and it never
 * throws: a value that cannot be JSON-encoded leaves its placeholder untouched.
 */
const PLACEHOLDER = /\{([^{}\s]+)\}/g;

/** Replaces `{key}` placeholders in `text` with `values[key]`; see the module comment. */
export function templateState(text: string, values: Readonly<Record<string, unknown>>): string {
  if (!text.includes('{')) return text;
  return text.replace(PLACEHOLDER, (placeholder: string, key: string) => {
    if (!Object.hasOwn(values, key)) return placeholder;
    const value = values[key];
    if (typeof value === 'string') return value;
    try {
      return JSON.stringify(value) ?? placeholder;
    } catch {
      return placeholder;
    }
  });
}
