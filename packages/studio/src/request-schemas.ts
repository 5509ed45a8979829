/**
 * The zod schemas of every API input (query strings, path parameters, JSON bodies) and the one
 * function that applies them. Objects are strict: an unknown query parameter or body key (a typo
 * such as `?user=dana`) is `INVALID_ARGUMENT`, never a query that quietly widens to every user.
 */
import { BuddyError, describeValue } from '@buddy/core';
import { idProblem, MAX_SESSION_NAME_LENGTH } from '@buddy/core/adapter-utils';
import { z } from 'zod';

/** Largest page of sessions or runs the API returns. */
export const MAX_PAGE_SIZE = 100;
/** Page size when `limit` is absent. */
export const DEFAULT_PAGE_SIZE = 20;
/** Largest number of memories one request returns. */
export const MAX_MEMORIES = 1000;
/** Memories returned when `limit` is absent. */
export const DEFAULT_MEMORIES = 200;
/** Longest chat message, in characters. */
export const MAX_CHAT_MESSAGE_LENGTH = 100_000;

/** An id (session, user): core's rule, 1–256 characters without control characters. */
const id = z.string().superRefine((value, context) => {
  const problem = idProblem(value);
  if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
});

/** A decimal integer in a query string, within `min..max`. */
function integer(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,9}$/, `must be an integer from ${min} to ${max}`)
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, `must be an integer from ${min} to ${max}`)
        .max(max, `must be an integer from ${min} to ${max}`),
    );
}

const cursor = z.string().min(1, 'must not be empty').max(4096, 'must be at most 4096 characters');

/** A session or user id in a path. */
export const IdSchema = id;

/** `GET /api/sessions`. */
export const ListSessionsQuerySchema = z.strictObject({
  userId: id.optional(),
  agentId: id.optional(),
  cursor: cursor.optional(),
  limit: integer(1, MAX_PAGE_SIZE).optional(),
});

/** `?userId` of the routes on one session. */
export const OwnerQuerySchema = z.strictObject({ userId: id.optional() });

/** `GET /api/sessions/:id/runs`. */
export const RunsQuerySchema = z.strictObject({
  userId: id.optional(),
  from: integer(0, Number.MAX_SAFE_INTEGER).optional(),
  limit: integer(1, MAX_PAGE_SIZE).optional(),
});

/** `GET /api/users/:userId/memories`. */
export const MemoriesQuerySchema = z.strictObject({
  limit: integer(1, MAX_MEMORIES).optional(),
});

/** Routes that take no query parameters. */
export const EmptyQuerySchema = z.strictObject({});

/** `PATCH /api/sessions/:id`. */
export const RenameBodySchema = z.strictObject({
  sessionName: z
    .string()
    .refine((value) => value.trim() !== '', 'must be a non-empty string')
    .refine(
      (value) => value.length <= MAX_SESSION_NAME_LENGTH,
      `must be at most ${MAX_SESSION_NAME_LENGTH} characters`,
    ),
});

/** Longest reason given with an approval decision, in characters. */
export const MAX_APPROVAL_REASON_LENGTH = 1000;

/** One decision on a pending approval: approved or denied, with an optional reason. */
const ApprovalDecisionSchema = z.strictObject({
  approved: z.boolean(),
  reason: z
    .string()
    .refine(
      (value) => value.length <= MAX_APPROVAL_REASON_LENGTH,
      `must be at most ${MAX_APPROVAL_REASON_LENGTH} characters`,
    )
    .optional(),
});

/**
 * `POST /api/sessions/:id/chat`: a new `message`, or `approvals` (a decision for every pending
 * approval of the session's paused run, by `approvalId`) to resume it; exactly one of the two.
 */
export const ChatBodySchema = z
  .strictObject({
    message: z
      .string()
      .refine((value) => value.trim() !== '', 'must be a non-empty string')
      .refine(
        (value) => value.length <= MAX_CHAT_MESSAGE_LENGTH,
        `must be at most ${MAX_CHAT_MESSAGE_LENGTH} characters`,
      )
      .optional(),
    approvals: z
      .record(z.string(), ApprovalDecisionSchema)
      .refine((value) => Object.keys(value).length > 0, 'must hold at least one decision')
      .optional(),
    userId: id.optional(),
  })
  .superRefine((body, context) => {
    if (body.message === undefined && body.approvals === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['message'],
        message: "is required (or 'approvals', to answer a paused run)",
      });
    } else if (body.message !== undefined && body.approvals !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['approvals'],
        message: "cannot come with 'message': send one or the other",
      });
    }
  });

/**
 * Parses `value` with `schema`, or throws `INVALID_ARGUMENT` naming the first bad field and the
 * value it had, e.g. `query parameter 'limit' must be an integer from 1 to 100, got "abc"`.
 */
export function parseInput<TSchema extends z.ZodType>(
  schema: TSchema,
  value: unknown,
  where: 'query parameter' | 'path parameter' | 'body field',
): z.output<TSchema> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  let message: string;
  if (issue === undefined) {
    message = `invalid ${where}`;
  } else if (issue.code === 'unrecognized_keys') {
    message = `unknown ${where} ${issue.keys.map((key) => `'${key}'`).join(', ')}`;
  } else {
    const name = issue.path.map(String).join('.');
    const got = 'input' in issue ? `, got ${describeValue(issue.input)}` : '';
    const text =
      issue.code === 'invalid_type'
        ? `must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`
        : issue.message;
    // The root of a body is "body", the root of a query string "query string".
    const subject =
      name !== '' ? `${where} '${name}'` : where === 'body field' ? 'body' : 'query string';
    message = `${subject} ${text}${got}`;
  }
  throw new BuddyError({ code: 'INVALID_ARGUMENT', message });
}
