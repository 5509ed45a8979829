/**
 * The default system message: description, instructions, then the user's memories (SPEC §7) and
 * the session summary (SPEC §6.4). Templating (§2.5) applies to the description and instructions
 * only, never to memories or summaries.
 */

import type { UserMemory } from '../spec/memory-db-v1.ts';
import type { SessionSummaryRecord } from '../spec/session-storage-v1.ts';

/** Opens the memories section of the system message (SPEC §7). */
export const MEMORIES_OPEN_TAG = '<memories_from_previous_interactions>';
/** Closes the memories section. */
export const MEMORIES_CLOSE_TAG = '</memories_from_previous_interactions>';
/** Opens the summary section of the system message (SPEC §6.4). */
export const SUMMARY_OPEN_TAG = '<summary_of_previous_interactions>';
/** Closes the summary section. */
export const SUMMARY_CLOSE_TAG = '</summary_of_previous_interactions>';

/** The memories section, or `undefined` when there are none. */
export function formatMemoriesSection(memories: readonly UserMemory[]): string | undefined {
  if (memories.length === 0) return undefined;
  const lines = memories.map((memory) => `- ${memory.memory.replace(/\s*\n\s*/g, ' ')}`);
  return [
    'You remember these facts about the user from previous interactions:',
    MEMORIES_OPEN_TAG,
    ...lines,
    MEMORIES_CLOSE_TAG,
    'They may be out of date: when the current conversation says otherwise, the current conversation takes precedence.',
  ].join('\n');
}

/** The summary section, or `undefined` when there is no summary. */
export function formatSummarySection(
  summary: SessionSummaryRecord | undefined,
): string | undefined {
  if (summary === undefined || summary.summary.trim() === '') return undefined;
  const topics =
    summary.topics !== undefined && summary.topics.length > 0
      ? [`Topics: ${summary.topics.join(', ')}`]
      : [];
  return [
    'Here is a summary of your previous interactions in this session:',
    SUMMARY_OPEN_TAG,
    summary.summary.trim(),
    ...topics,
    SUMMARY_CLOSE_TAG,
    'The summary may be incomplete or outdated: the current conversation takes precedence over it.',
  ].join('\n');
}

/** Assembles the default system message; `undefined` when it would be empty. */
export function buildDefaultSystemMessage(parts: {
  description: string | undefined;
  instructions: readonly string[];
  memories: string | undefined;
  summary: string | undefined;
}): string | undefined {
  const sections: string[] = [];
  if (parts.description !== undefined && parts.description.trim() !== '') {
    sections.push(parts.description.trim());
  }
  if (parts.instructions.length === 1) {
    sections.push(`## Instructions\n${parts.instructions[0]}`);
  } else if (parts.instructions.length > 1) {
    sections.push(`## Instructions\n${parts.instructions.map((line) => `- ${line}`).join('\n')}`);
  }
  if (parts.memories !== undefined) sections.push(parts.memories);
  if (parts.summary !== undefined) sections.push(parts.summary);
  return sections.length === 0 ? undefined : sections.join('\n\n');
}
