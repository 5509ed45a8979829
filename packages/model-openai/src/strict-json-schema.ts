/**
 * Whether a JSON schema can be sent with `strict: true` (OpenAI Structured Outputs).
 *
 * Strict mode accepts a subset of JSON Schema and rejects the whole request (HTTP 400) otherwise,
 * so the adapter only asks for it when the schema obviously fits: an object root, every object
 * closed (`additionalProperties: false`) with all of its properties required, and none of the
 * composition/conditional keywords strict mode does not support. Anything else is sent with
 * `strict: false`, where the model follows the schema on a best-effort basis.
 */
import type { JsonSchema } from '@buddy/core';

const UNSUPPORTED_KEYWORDS = [
  'allOf',
  'oneOf',
  'not',
  'if',
  'then',
  'else',
  'dependentRequired',
  'dependentSchemas',
  'patternProperties',
  'propertyNames',
  'unevaluatedProperties',
  'unevaluatedItems',
  'contains',
];

function isSchemaObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isObjectNode(schema: JsonSchema): boolean {
  const type = schema.type;
  return (
    type === 'object' ||
    (Array.isArray(type) && type.includes('object')) ||
    isSchemaObject(schema.properties)
  );
}

function children(schema: JsonSchema): unknown[] {
  const found: unknown[] = [];
  if (isSchemaObject(schema.properties)) found.push(...Object.values(schema.properties));
  for (const key of ['$defs', 'definitions']) {
    const defs = schema[key];
    if (isSchemaObject(defs)) found.push(...Object.values(defs));
  }
  if (Array.isArray(schema.items)) found.push(...schema.items);
  else if (schema.items !== undefined) found.push(schema.items);
  if (Array.isArray(schema.prefixItems)) found.push(...schema.prefixItems);
  if (Array.isArray(schema.anyOf)) found.push(...schema.anyOf);
  return found;
}

function isStrictNode(node: unknown, depth: number): boolean {
  if (typeof node === 'boolean') return false;
  if (!isSchemaObject(node) || depth > 10) return false;
  if (UNSUPPORTED_KEYWORDS.some((keyword) => keyword in node)) return false;
  if (isObjectNode(node)) {
    if (node.additionalProperties !== false) return false;
    const keys = isSchemaObject(node.properties) ? Object.keys(node.properties) : [];
    const required = Array.isArray(node.required) ? node.required : [];
    if (!keys.every((key) => required.includes(key))) return false;
  }
  return children(node).every((child) => isStrictNode(child, depth + 1));
}

/**
 * True when `schema` fits OpenAI's strict Structured Outputs subset.
 *
 * @example
 * isStrictJsonSchema({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'],
 *   additionalProperties: false }); // true
 */
export function isStrictJsonSchema(schema: JsonSchema): boolean {
  return schema.type === 'object' && isStrictNode(schema, 0);
}
