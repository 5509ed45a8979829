/**
 * The JSON shapes of the Studio's HTTP API (see the package README for the routes). Types only:
 * the web UI imports them too, so this file must not import anything with runtime code.
 */
import type {
  ModelInfo,
  SessionInfo,
  SessionSummaryRecord,
  StoredMessage,
  Usage,
  UserMemory,
} from '@buddy/core/spec';

/** Every error response: `{ error: { code, message } }`. */
export interface StudioErrorBody {
  error: {
    /** A `BuddyError` code, or `UNAUTHORIZED` / `FORBIDDEN` for the Studio's own access checks. */
    code: string;
    message: string;
  };
}

/** `GET /api/info`: what this Studio can do. */
export interface StudioInfo {
  /** The storage's backend name (`'sqlite'`, `'redis'`, `'memory'`, …). */
  backend: string;
  /** A `memoryDb` was given: memories can be read and forgotten. */
  memories: boolean;
  /** An `agent` was given: `POST /api/sessions/:id/chat` works. */
  chat: boolean;
}

/** `GET /api/sessions`. */
export interface StudioSessionList {
  sessions: SessionInfo[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

/** A session as the Studio shows it: the stored record without its runs. */
export interface StudioSession {
  sessionId: string;
  sessionName?: string;
  /** The owner. */
  userId?: string;
  agentId?: string;
  sessionState: Record<string, unknown>;
  summary?: SessionSummaryRecord;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds. */
  updatedAt: number;
  /** Number of runs stored. */
  runCount: number;
  version: number;
  /**
   * Present while a run of this session waits for tool approvals (SPEC §16.4): answer them with
   * `POST /api/sessions/:id/chat` and `{ approvals }`; a new message is `SESSION_BUSY` meanwhile.
   */
  pendingApprovals?: StudioPendingApproval[];
}

/** A tool call waiting for a person's decision. */
export interface StudioPendingApproval {
  approvalId: string;
  toolName: string;
  /** The call's arguments as JSON text. */
  arguments: string;
}

/** One difference between two session states. */
export interface StateChange {
  /** Keys from the state's root to the changed value (objects are compared key by key). */
  path: string[];
  kind: 'added' | 'removed' | 'changed';
  /** The value before (absent for `added`). */
  before?: unknown;
  /** The value after (absent for `removed`). */
  after?: unknown;
}

/** One stored run with what it changed. */
export interface StudioRun {
  runId: string;
  index: number;
  userId?: string;
  agentId?: string;
  /** User, assistant (with `toolCalls`) and tool messages, in order. */
  messages: StoredMessage[];
  usage: Usage;
  model: ModelInfo;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds. */
  completedAt: number;
  /** The session state this run left; `null` for runs stored before `stateAfter` existed. */
  stateAfter: Record<string, unknown> | null;
  /**
   * What the run changed, compared with the state the previous run left (run 0: with `{}`);
   * `null` when either state is unknown.
   */
  stateChanges: StateChange[] | null;
}

/** `GET /api/sessions/:id/runs`. */
export interface StudioRunPage {
  runs: StudioRun[];
  /** Pass as `from` for the next page; absent on the last page. */
  nextCursor?: string;
}

/** `GET /api/users/:userId/memories`. */
export interface StudioMemoryList {
  /** Newest first. */
  memories: UserMemory[];
  /** More memories exist than `limit` allowed. */
  hasMore: boolean;
}

/** `DELETE /api/users/:userId`: what was deleted. */
export interface StudioForgetResult {
  sessions: number;
  /** `null` when the Studio has no `memoryDb`. */
  memories: number | null;
}

/** A `RunEvent` as sent over Server-Sent Events (`data:` of each event). */
export type StudioChatEvent =
  | { type: 'run-started'; runId: string; sessionId: string; userId?: string }
  | {
      type: 'approval-requested';
      runId: string;
      pendingApprovals: StudioPendingApproval[];
    }
  | { type: 'text-delta'; runId: string; delta: string }
  | {
      type: 'tool-call';
      runId: string;
      toolCall: { id: string; name: string; arguments: string };
    }
  | {
      type: 'tool-result';
      runId: string;
      toolCallId: string;
      toolName: string;
      result: string;
      isError: boolean;
    }
  | {
      type: 'run-completed';
      runId: string;
      response: {
        runId: string;
        sessionId: string;
        userId?: string;
        content: string;
        messages: StoredMessage[];
        usage: Usage;
        model: ModelInfo;
        warnings: string[];
        /** `'awaiting-approval'` when the run paused for the tool calls in `pendingApprovals`. */
        status: 'completed' | 'awaiting-approval';
        pendingApprovals?: StudioPendingApproval[];
      };
    }
  | {
      type: 'run-error';
      runId: string;
      error: { code: string; message: string; retryable: boolean };
    };
