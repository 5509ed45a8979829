/**
 * One REPL turn: streams the agent's events to the terminal, with a status line for every model
 * round ("thinking…", "thinking (round 2)…", "running add_to_cart…") and for the post-answer work
 * that follows `run-completed` ("updating summary…", "updating memories…"), one clean line per
 * tool call and result, and errors in words of this app (a model that is down is named by its
 * base URL).
 *
 * A run that pauses for approvals (a `checkout`) asks about each call (`approval-prompt.ts`) and
 * goes on with `resumeStream`, with the same progress lines; it may pause again. A session that
 * already waits for a decision (the REPL was stopped at the question, or a resume was
 * interrupted) is asked about first, then the new message runs.
 */
import { BuddyError, type PendingApprovalInfo, type RunEvent, type RunResponse } from '@buddy/core';
import { type Ask, askApprovals } from './approval-prompt.ts';
import { networkReason } from './network-reason.ts';
import type { MemoryWork } from './progress-memory.ts';
import type { App } from './setup.ts';
import { color, describeError, type StatusLine, toolCallLine, toolResultLine } from './terminal.ts';

/** How a turn ended. */
export type TurnOutcome =
  /**
   * The run is stored. `interrupted`: Ctrl-C came during the post-answer work, which the
   * agent then gave up (the run's signal ends it), so the summary and memories were not updated.
   */
  | { kind: 'completed'; response: RunResponse; interrupted: boolean }
  /**
   * Stopped before it was stored: nothing of it was saved. `waiting`: a run paused for approval
   * is still stored with the session (its resume was interrupted); it is asked about again.
   */
  | { kind: 'aborted'; waiting: boolean }
  | { kind: 'failed' };

/** What to say for an error of a run, naming the model's base URL where that is the problem. */
export function describeRunError(error: unknown, endpoint: string | undefined): string {
  if (BuddyError.is(error) && endpoint !== undefined) {
    const reason = networkReason(error);
    if (error.code === 'MODEL_UNAVAILABLE')
      return `The model at ${endpoint} is not available (${reason ?? 'it answered with an error'}). Check that the server runs and its base URL (OPENAI_BASE_URL / ANTHROPIC_BASE_URL), or use --model offline.`;
    if (error.code === 'MODEL_AUTH_FAILED')
      return `The model at ${endpoint} refused the API key. Check OPENAI_API_KEY / ANTHROPIC_API_KEY.`;
    if (error.code === 'MODEL_RATE_LIMITED')
      return `The model at ${endpoint} is rate limiting this key. Wait a moment and try again.`;
  }
  return describeError(error);
}

function postAnswerLabel(active: ReadonlySet<MemoryWork>): string | undefined {
  if (active.has('summary') && active.has('memories')) return 'updating summary and memories';
  if (active.has('summary')) return 'updating summary';
  if (active.has('memories')) return 'updating memories';
  return undefined;
}

/** How one streamed run ended: as a turn does, or paused for these approvals. */
type StreamOutcome =
  | TurnOutcome
  | { kind: 'paused'; pendingApprovals: PendingApprovalInfo[] }
  /** `SESSION_BUSY`: the session may wait for a decision on an earlier run. */
  | { kind: 'busy'; error: BuddyError };

/** What a turn prints to and asks with. */
export interface TurnOptions {
  signal: AbortSignal;
  status: StatusLine;
  /** Asks about tool calls that need approval; without it every such call is denied. */
  ask?: Ask;
  write?: (text: string) => void;
}

const nobodyToAsk: Ask = async () => ({ kind: 'closed' });

/**
 * Runs one turn. Aborting `signal` stops it: before the run is stored, the run is cancelled
 * (nothing saved); after `run-completed`, the agent gives up the post-answer work. A run paused
 * for approvals is asked about (`options.ask`) and resumed until it completes.
 */
export async function chatTurn(app: App, text: string, options: TurnOptions): Promise<TurnOutcome> {
  const { signal } = options;
  const write = options.write ?? ((chunk: string) => process.stdout.write(chunk));
  const ask = options.ask ?? nobodyToAsk;
  let outcome = await streamRun(app, app.agent.stream(text, { signal }), options, write, false);
  if (outcome.kind === 'busy') {
    // The session may wait for a decision on an earlier run: settle that, then this message.
    const pending = (await app.storage.getSession(app.agent.sessionId))?.pendingRun;
    if (pending === undefined) return busyFailure(app, outcome.error, write);
    write(
      `${color.yellow('This session still waits for your decision on an earlier request: decide it first.')}\n`,
    );
    const settled = await continueAfterApprovals(
      app,
      {
        kind: 'paused',
        pendingApprovals: pending.approvals.map(({ approvalId, toolName, arguments: args }) => ({
          approvalId,
          toolName,
          arguments: args,
        })),
      },
      options,
      write,
      ask,
    );
    if (settled.kind !== 'completed') return settled;
    outcome = await streamRun(app, app.agent.stream(text, { signal }), options, write, false);
  }
  return continueAfterApprovals(app, outcome, options, write, ask);
}

function busyFailure(app: App, error: BuddyError, write: (text: string) => void): TurnOutcome {
  write(`${color.red(`error: ${describeRunError(error, app.modelEndpoint)}`)}\n`);
  return { kind: 'failed' };
}

/** While `outcome` is a pause: asks, resumes with the decisions, and streams the rest. */
async function continueAfterApprovals(
  app: App,
  first: StreamOutcome,
  options: TurnOptions,
  write: (text: string) => void,
  ask: Ask,
): Promise<TurnOutcome> {
  let outcome = first;
  while (outcome.kind === 'paused') {
    const decided = await askApprovals(outcome.pendingApprovals, ask);
    if (decided.stoppedBy === 'interrupted')
      write(`${color.yellow('Denied: Ctrl-C at the question denies the call.')}\n`);
    outcome = await streamRun(
      app,
      app.agent.resumeStream({ approvals: decided.approvals, signal: options.signal }),
      options,
      write,
      true,
    );
  }
  if (outcome.kind === 'busy') return busyFailure(app, outcome.error, write);
  return outcome;
}

/**
 * Streams one run's events (a new run or a resumed one) with the progress lines. Ends as a turn
 * does, paused for approvals, or `busy` (`SESSION_BUSY` of a new run, reported by the caller).
 */
async function streamRun(
  app: App,
  events: AsyncIterable<RunEvent>,
  options: TurnOptions,
  write: (text: string) => void,
  resuming: boolean,
): Promise<StreamOutcome> {
  const { signal, status } = options;
  const line = (chunk: string) => write(`${chunk}\n`);
  let round = 1;
  let afterTools = false;
  let answering = false;
  let completed: RunResponse | undefined;
  let active: ReadonlySet<MemoryWork> = new Set();

  const nextRound = () => {
    if (!afterTools) return;
    afterTools = false;
    round += 1;
  };
  const endAnswerLine = () => {
    if (answering) write('\n');
    answering = false;
  };
  const showPostAnswer = () => {
    if (completed === undefined) return;
    const label = postAnswerLabel(active);
    if (label === undefined) status.clear();
    else status.show(label);
  };
  app.memory.onProgress((now) => {
    active = now;
    showPostAnswer();
  });

  // A resumed run first settles the decided calls: their results come before any model round.
  status.show(resuming ? 'resuming' : 'thinking');
  try {
    for await (const event of events) {
      switch (event.type) {
        case 'text-delta':
          nextRound();
          if (!answering) {
            status.clear();
            write(`${color.bold('buddy ›')} `);
            answering = true;
          }
          write(event.delta);
          break;
        case 'tool-call':
          nextRound();
          status.clear();
          endAnswerLine();
          line(`  ${toolCallLine(event.toolCall.name, event.toolCall.arguments)}`);
          status.show(`running ${event.toolCall.name}`);
          break;
        case 'tool-result':
          status.clear();
          line(`  ${toolResultLine(event.result, event.isError)}`);
          afterTools = true;
          status.show(`thinking (round ${round + 1})`);
          break;
        case 'approval-requested':
          status.clear();
          endAnswerLine();
          break;
        case 'run-completed':
          status.clear();
          endAnswerLine();
          completed = event.response;
          showPostAnswer();
          break;
        case 'run-error':
          status.clear();
          endAnswerLine();
          if (BuddyError.is(event.error, 'ABORTED') || signal.aborted) {
            line(
              color.yellow(
                resuming
                  ? 'Interrupted: the request still waits for your decision; you are asked again with your next message.'
                  : 'Interrupted: the turn was stopped and nothing of it was saved.',
              ),
            );
            return { kind: 'aborted', waiting: resuming };
          }
          if (!resuming && BuddyError.is(event.error, 'SESSION_BUSY'))
            return { kind: 'busy', error: event.error };
          line(color.red(`error: ${describeRunError(event.error, app.modelEndpoint)}`));
          return { kind: 'failed' };
        default:
          break;
      }
    }
  } finally {
    status.clear();
    app.memory.onProgress(undefined);
  }
  if (completed === undefined) return { kind: 'failed' };
  if (completed.status === 'awaiting-approval') {
    return { kind: 'paused', pendingApprovals: completed.pendingApprovals ?? [] };
  }
  if (signal.aborted) {
    // The agent's own warnings only say what was given up; say it once, plainly.
    line(
      color.yellow(
        'Interrupted: the answer is saved; the summary and memories were not updated this time.',
      ),
    );
    return { kind: 'completed', response: completed, interrupted: true };
  }
  for (const warning of completed.warnings) line(color.yellow(`! ${warning}`));
  return { kind: 'completed', response: completed, interrupted: false };
}
