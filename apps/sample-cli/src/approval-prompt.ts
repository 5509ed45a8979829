/**
 * Asking a person about tool calls that need approval: one `Allow checkout({"total":8.1})? [y/N]`
 * question per pending call. `y` or `yes` (any case) allows it; `n`, Enter or anything else
 * denies it with a reason the model reads (`Error: denied: <reason>`); Ctrl-C denies it and every
 * call still to be asked, and so does the end of the input.
 */
import type { ApprovalDecisions, PendingApprovalInfo } from '@buddy/core';
import { clip } from './terminal.ts';

/** What a person answered at a question: a line, Ctrl-C, or the end of the input. */
export type PromptAnswer =
  | { kind: 'line'; text: string }
  | { kind: 'interrupted' }
  | { kind: 'closed' };

/** Asks one question (the text ends with a space) and waits for the answer. */
export type Ask = (question: string) => Promise<PromptAnswer>;

/** The decisions, and whether the person stopped answering (Ctrl-C, end of input). */
export interface ApprovalOutcome {
  approvals: ApprovalDecisions;
  /** How the asking ended early, if it did. */
  stoppedBy?: 'interrupted' | 'closed';
}

/** The reasons the model is given for a denial. */
export const DENIAL_REASONS = {
  declined: 'the user declined',
  interrupted: 'the user cancelled with Ctrl-C',
  closed: 'nobody answered (the input ended)',
} as const;

/** The question for one call: `Allow checkout({"total":8.1})? [y/N] `. */
export function approvalQuestion(pending: PendingApprovalInfo): string {
  return `Allow ${pending.toolName}(${clip(pending.arguments, 200)})? [y/N] `;
}

/** Asks about every pending call in order; see the module comment for the answers. */
export async function askApprovals(
  pending: readonly PendingApprovalInfo[],
  ask: Ask,
): Promise<ApprovalOutcome> {
  const approvals: ApprovalDecisions = {};
  let stoppedBy: ApprovalOutcome['stoppedBy'];
  for (const call of pending) {
    if (stoppedBy !== undefined) {
      approvals[call.approvalId] = { approved: false, reason: DENIAL_REASONS[stoppedBy] };
      continue;
    }
    const answer = await ask(approvalQuestion(call));
    if (answer.kind === 'line' && /^\s*y(es)?\s*$/i.test(answer.text)) {
      approvals[call.approvalId] = { approved: true };
    } else if (answer.kind === 'line') {
      approvals[call.approvalId] = { approved: false, reason: DENIAL_REASONS.declined };
    } else {
      stoppedBy = answer.kind;
      approvals[call.approvalId] = { approved: false, reason: DENIAL_REASONS[answer.kind] };
    }
  }
  return stoppedBy === undefined ? { approvals } : { approvals, stoppedBy };
}
