import {
  type JsonSchema,
  type Message,
  type Model,
  type ModelResponse,
  toBuddyError,
} from '@buddy/core';
import { z } from 'zod';
import { parseModelJson } from '../lenient-json.ts';

/**
 * The JSON schema sent as `responseFormat.schema`. `$schema` is dropped (as `tool()` does for tool
 * parameters): providers want the bare schema object.
 */
export function toResponseSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema) as JsonSchema;
  return rest;
}

/**
 * One structured-output call: asks `model` for JSON matching `schema` (through the Model
 * contract's `responseFormat`), then parses the answer leniently and validates it. Model failures
 * keep their `BuddyError` code; an unusable answer is `MODEL_BAD_RESPONSE` (see `parseModelJson`).
 *
 * @internal Shared by `MemorySummarizer` and `MemoryClassifier`.
 */
export async function generateJson<TOutput>(input: {
  who: string;
  model: Model;
  messages: Message[];
  schema: z.ZodType<TOutput>;
  /** `responseFormat.name`, e.g. `'session_summary'`. */
  name: string;
  signal?: AbortSignal | undefined;
}): Promise<TOutput> {
  const { who, model, signal } = input;
  let response: ModelResponse;
  try {
    response = await model.generate(
      {
        messages: input.messages,
        responseFormat: { type: 'json', name: input.name, schema: toResponseSchema(input.schema) },
      },
      signal === undefined ? {} : { signal },
    );
  } catch (error) {
    throw toBuddyError(error, 'INTERNAL', `${who}: model ${model.provider}/${model.id} failed`);
  }
  return parseModelJson(response.content ?? '', input.schema, who);
}
