/**
 * The JSON API under `/api` (routes listed in the package README and SPEC §14). Every input is
 * parsed with the schemas in `request-schemas.ts`; every failure is `{ error: { code, message } }`
 * with the status of `http-errors.ts`. Nothing here ever reads all sessions or all runs: listing
 * is one keyset page of `listSessions`, a timeline is one `getRuns({ fromIndex, limit })` page.
 */
import {
  type Agent,
  type ApprovalDecisions,
  BuddyError,
  describeValue,
  type Logger,
  type MemoryDb,
  type SessionRecord,
  type SessionStorage,
  type StoredRun,
} from '@buddy/core';
import { Hono } from 'hono';
import { z } from 'zod';
import type {
  StudioForgetResult,
  StudioInfo,
  StudioMemoryList,
  StudioRun,
  StudioRunPage,
  StudioSession,
  StudioSessionList,
} from './api-types.ts';
import { chatEventStream } from './chat-event-stream.ts';
import { API_HEADERS, errorResponse, jsonResponse, toErrorResponse } from './http-errors.ts';
import {
  ChatBodySchema,
  DEFAULT_MEMORIES,
  DEFAULT_PAGE_SIZE,
  EmptyQuerySchema,
  IdSchema,
  ListSessionsQuerySchema,
  MemoriesQuerySchema,
  OwnerQuerySchema,
  parseInput,
  RenameBodySchema,
  RunsQuerySchema,
} from './request-schemas.ts';
import { diffState } from './state-diff.ts';

/** Largest JSON body accepted, in bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** What the routes need from `createStudio`. */
export interface ApiContext {
  storage: SessionStorage;
  memoryDb: MemoryDb | undefined;
  agent: Agent | undefined;
  logger: Logger;
  /** Registers a running chat so that `close()` can abort it; returns the unregister function. */
  trackChat(abort: () => void): () => void;
}

function invalid(message: string): BuddyError {
  return new BuddyError({ code: 'INVALID_ARGUMENT', message });
}

function notFound(message: string): BuddyError {
  return new BuddyError({ code: 'NOT_FOUND', message });
}

/** The query string as an object; a parameter given twice is refused (which one would win?). */
function queryOf(request: Request): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, value] of new URL(request.url).searchParams) {
    if (Object.hasOwn(query, key)) throw invalid(`query parameter '${key}' is given twice`);
    query[key] = value;
  }
  return query;
}

/** Reads a JSON body of at most `MAX_BODY_BYTES`. */
async function readJsonBody(request: Request): Promise<unknown> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (declared > MAX_BODY_BYTES) throw invalid(`body must be at most ${MAX_BODY_BYTES} bytes`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body !== null) {
    for await (const chunk of request.body) {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) throw invalid(`body must be at most ${MAX_BODY_BYTES} bytes`);
      chunks.push(chunk);
    }
  }
  const text = new TextDecoder().decode(Buffer.concat(chunks));
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid(`body must be JSON, got ${describeValue(text)}`);
  }
}

/** The stored record as the API shows it (no incarnation: an implementation detail). */
function toSessionView(record: SessionRecord): StudioSession {
  return {
    sessionId: record.sessionId,
    ...(record.sessionName === undefined ? {} : { sessionName: record.sessionName }),
    ...(record.userId === undefined ? {} : { userId: record.userId }),
    ...(record.agentId === undefined ? {} : { agentId: record.agentId }),
    sessionState: record.sessionState,
    ...(record.summary === undefined ? {} : { summary: record.summary }),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    runCount: record.runCount,
    version: record.version,
    ...(record.pendingRun === undefined
      ? {}
      : {
          pendingApprovals: record.pendingRun.approvals.map(
            ({ approvalId, toolName, arguments: args }) => ({
              approvalId,
              toolName,
              arguments: args,
            }),
          ),
        }),
  };
}

/** The API's decisions as the agent takes them (a reason only where one was given). */
function decisions(
  approvals: Record<string, { approved: boolean; reason?: string | undefined }>,
): ApprovalDecisions {
  // fromEntries defines own properties: an id such as "__proto__" stays a key.
  return Object.fromEntries(
    Object.entries(approvals).map(([approvalId, { approved, reason }]) => [
      approvalId,
      reason === undefined ? { approved } : { approved, reason },
    ]),
  );
}

function toRunView(run: StoredRun, previous: StoredRun | null | undefined): StudioRun {
  // `previous` is null for the first run of a session (compared with {}), undefined when unknown.
  const before = previous === null ? {} : previous?.stateAfter;
  const after = run.stateAfter;
  return {
    runId: run.runId,
    index: run.index,
    ...(run.userId === undefined ? {} : { userId: run.userId }),
    ...(run.agentId === undefined ? {} : { agentId: run.agentId }),
    messages: run.messages,
    usage: run.usage,
    model: run.model,
    createdAt: run.createdAt,
    completedAt: run.completedAt,
    stateAfter: after ?? null,
    stateChanges: before === undefined || after === undefined ? null : diffState(before, after),
  };
}

/** The API as a Hono app; `createStudio` mounts it next to the UI. */
export function createApiRoutes(context: ApiContext): Hono {
  const { storage, memoryDb, agent, logger } = context;
  const app = new Hono();

  /** Runs `work`, replacing a backend's ownership message with one that names only the caller's values. */
  async function owned<T>(
    sessionId: string,
    userId: string | undefined,
    work: () => Promise<T>,
  ): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (BuddyError.is(error, 'SESSION_OWNERSHIP')) {
        throw new BuddyError({
          code: 'SESSION_OWNERSHIP',
          message:
            userId === undefined
              ? `Session ${describeValue(sessionId)} may not be changed without its owner's userId`
              : `userId ${describeValue(userId)} may not access session ${describeValue(sessionId)}`,
        });
      }
      throw error;
    }
  }

  async function readOwnedSession(
    sessionId: string,
    userId: string | undefined,
  ): Promise<SessionRecord> {
    const record = await owned(sessionId, userId, () =>
      storage.getSession(sessionId, userId === undefined ? undefined : { userId }),
    );
    if (record === undefined) throw notFound(`Session ${describeValue(sessionId)} not found`);
    return record;
  }

  /** A path parameter checked with core's id rule (Hono has already decoded it). */
  const param = (value: string | undefined, name: string): string =>
    parseInput(z.strictObject({ [name]: IdSchema }), { [name]: value }, 'path parameter')[
      name
    ] as string;

  app.get('/api/info', (c) => {
    parseInput(EmptyQuerySchema, queryOf(c.req.raw), 'query parameter');
    const info: StudioInfo = {
      backend: storage.backend,
      memories: memoryDb !== undefined,
      chat: agent !== undefined,
    };
    return jsonResponse(info);
  });

  app.get('/api/sessions', async (c) => {
    const query = parseInput(ListSessionsQuerySchema, queryOf(c.req.raw), 'query parameter');
    const page = await storage.listSessions({
      ...(query.userId === undefined ? {} : { userId: query.userId }),
      ...(query.agentId === undefined ? {} : { agentId: query.agentId }),
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
    });
    const body: StudioSessionList = {
      sessions: page.sessions,
      ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
    };
    return jsonResponse(body);
  });

  app.get('/api/sessions/:id', async (c) => {
    const sessionId = param(c.req.param('id'), 'id');
    const { userId } = parseInput(OwnerQuerySchema, queryOf(c.req.raw), 'query parameter');
    const record = await readOwnedSession(sessionId, userId);
    return jsonResponse({ session: toSessionView(record) });
  });

  app.get('/api/sessions/:id/runs', async (c) => {
    const sessionId = param(c.req.param('id'), 'id');
    const query = parseInput(RunsQuerySchema, queryOf(c.req.raw), 'query parameter');
    await readOwnedSession(sessionId, query.userId);
    const from = query.from ?? 0;
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    // One read: the run before the page (for the first diff), the page, and one more (is there a next page?).
    const fetchFrom = Math.max(0, from - 1);
    const fetched = await storage.getRuns({
      sessionId,
      fromIndex: fetchFrom,
      limit: limit + 1 + (from - fetchFrom),
    });
    const before = fetched.filter((run) => run.index < from).at(-1);
    const inPage = fetched.filter((run) => run.index >= from);
    const page = inPage.slice(0, limit);
    const runs: StudioRun[] = [];
    let previous: StoredRun | null | undefined = before ?? (from === 0 ? null : undefined);
    for (const run of page) {
      // A gap in the indexes (runs pruned) means the state before this run is unknown.
      const known = previous === null ? run.index === 0 : previous?.index === run.index - 1;
      runs.push(toRunView(run, known ? previous : undefined));
      previous = run;
    }
    const last = page.at(-1);
    const body: StudioRunPage = {
      runs,
      ...(inPage.length > limit && last !== undefined
        ? { nextCursor: String(last.index + 1) }
        : {}),
    };
    return jsonResponse(body);
  });

  app.patch('/api/sessions/:id', async (c) => {
    const sessionId = param(c.req.param('id'), 'id');
    const { userId } = parseInput(OwnerQuerySchema, queryOf(c.req.raw), 'query parameter');
    const { sessionName } = parseInput(
      RenameBodySchema,
      await readJsonBody(c.req.raw),
      'body field',
    );
    const record = await readOwnedSession(sessionId, userId);
    // expectedIncarnation: a session deleted meanwhile is NOT_FOUND, never brought back empty.
    const updated = await owned(sessionId, userId, () =>
      storage.upsertSession({
        sessionId,
        sessionName: sessionName.trim(),
        expectedIncarnation: record.incarnation,
        ...(userId === undefined ? {} : { userId }),
      }),
    );
    return jsonResponse({ session: toSessionView(updated) });
  });

  app.delete('/api/sessions/:id', async (c) => {
    const sessionId = param(c.req.param('id'), 'id');
    const { userId } = parseInput(OwnerQuerySchema, queryOf(c.req.raw), 'query parameter');
    const deleted = await owned(sessionId, userId, () =>
      storage.deleteSession(sessionId, userId === undefined ? undefined : { userId }),
    );
    if (!deleted) throw notFound(`Session ${describeValue(sessionId)} not found`);
    return jsonResponse({ deleted: true });
  });

  app.get('/api/users/:userId/memories', async (c) => {
    const userId = param(c.req.param('userId'), 'userId');
    const { limit = DEFAULT_MEMORIES } = parseInput(
      MemoriesQuerySchema,
      queryOf(c.req.raw),
      'query parameter',
    );
    if (memoryDb === undefined) {
      throw notFound(
        'This Studio has no memoryDb: pass createStudio({ memoryDb }) to see memories',
      );
    }
    const rows = await memoryDb.readMemories({ userId, limit: limit + 1, sort: 'newest' });
    const body: StudioMemoryList = { memories: rows.slice(0, limit), hasMore: rows.length > limit };
    return jsonResponse(body);
  });

  app.delete('/api/users/:userId', async (c) => {
    const userId = param(c.req.param('userId'), 'userId');
    parseInput(EmptyQuerySchema, queryOf(c.req.raw), 'query parameter');
    const sessions = await storage.deleteUserData(userId);
    const memories = memoryDb === undefined ? null : await memoryDb.deleteUserData(userId);
    const body: StudioForgetResult = { sessions, memories };
    return jsonResponse(body);
  });

  app.post('/api/sessions/:id/chat', async (c) => {
    const sessionId = param(c.req.param('id'), 'id');
    parseInput(EmptyQuerySchema, queryOf(c.req.raw), 'query parameter');
    const body = parseInput(ChatBodySchema, await readJsonBody(c.req.raw), 'body field');
    if (agent === undefined) {
      throw notFound('Chat is off: this Studio was created without an agent');
    }
    // The owner speaks in their own session unless the caller names a user (then it must be the owner).
    const record = await owned(sessionId, body.userId, () =>
      storage.getSession(
        sessionId,
        body.userId === undefined ? undefined : { userId: body.userId },
      ),
    );
    const userId = body.userId ?? record?.userId;
    // Answered here, before the stream starts, so they are plain 4xx answers (the agent checks
    // them again when the run starts, for a race with another process).
    if (body.approvals !== undefined && record?.pendingRun === undefined) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `Session ${describeValue(sessionId)} has no run waiting for approval`,
      });
    }
    if (body.approvals === undefined && record?.pendingRun !== undefined) {
      const tools = record.pendingRun.approvals.map((approval) => approval.toolName).join(', ');
      throw new BuddyError({
        code: 'SESSION_BUSY',
        message: `Session ${describeValue(sessionId)} has a run waiting for approval of ${tools}: answer it with 'approvals' first`,
        retryable: false,
      });
    }
    // A run in progress elsewhere: answer 409 now instead of waiting for the agent's lease timeout.
    const probe = await storage.acquireLease({ sessionId, ttlMs: 5_000, waitMs: 0 });
    await probe.release();

    const controller = new AbortController();
    const abort = () =>
      controller.abort(
        new BuddyError({ code: 'ABORTED', message: 'The chat client disconnected' }),
      );
    const untrack = context.trackChat(abort);
    const requestSignal = c.req.raw.signal;
    requestSignal.addEventListener('abort', abort, { once: true });
    const runOptions = {
      sessionId,
      ...(userId === undefined ? {} : { userId }),
      signal: controller.signal,
    };
    // A message starts a run; approvals resume the session's paused run (SPEC §16.4).
    const events =
      body.approvals !== undefined
        ? agent.resumeStream({ ...runOptions, approvals: decisions(body.approvals) })
        : agent.stream(body.message ?? '', runOptions);
    const stream = chatEventStream(events, {
      onCancel: abort,
      onEnd: () => {
        requestSignal.removeEventListener('abort', abort);
        untrack();
      },
    });
    return new Response(stream, {
      status: 200,
      headers: {
        ...API_HEADERS,
        'content-type': 'text/event-stream; charset=utf-8',
        'x-accel-buffering': 'no',
      },
    });
  });

  app.all('/api/*', (c) =>
    errorResponse(404, 'NOT_FOUND', `No API route ${c.req.method} ${new URL(c.req.url).pathname}`),
  );
  app.onError((error) => toErrorResponse(error, logger));
  return app;
}
