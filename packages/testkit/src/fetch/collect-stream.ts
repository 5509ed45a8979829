/** Reads an async iterable to the end, e.g. a model's or an agent's stream, for assertions. */
export async function collectStream<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}
