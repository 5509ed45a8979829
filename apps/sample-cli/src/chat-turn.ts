/**
 * One REPL turn: streams the agent's events to the terminal, with a status line for every model
 * round ("thinking…", "thinking (round 2)…", "running add_to_cart…") and for the post-answer work
 * that follows `run-completed` ("updating summary…", "updating memories…"), one clean line per
 * tool call and result, and errors in words of this app (a model that is down is named by its
 * base URL).
 */
import { BuddyError, type RunEvent, type RunResponse } from '@buddy/core';
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
  /** Stopped before it was stored: nothing of it was saved. */
  | { kind: 'aborted' }
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

/**
 * Runs one turn. Aborting `signal` stops it: before the run is stored, the run is cancelled
 * (nothing saved); after `run-completed`, the agent gives up the post-answer work.
 */
export async function chatTurn(
  app: App,
  text: string,
  options: { signal: AbortSignal; status: StatusLine; write?: (text: string) => void },
): Promise<TurnOutcome> {
  const { signal, status } = options;
  const write = options.write ?? ((chunk: string) => process.stdout.write(chunk));
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

  status.show('thinking');
  try {
    for await (const event of app.agent.stream(text, { signal }) as AsyncIterable<RunEvent>) {
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
            line(color.yellow('Interrupted: the turn was stopped and nothing of it was saved.'));
            return { kind: 'aborted' };
          }
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
