/**
 * `buddy show <url> <sessionId> [--json]`: one session and its runs: the record's fields, then
 * every run kept with its messages. `--json` prints `{ "session": …, "runs": [ … ] }`.
 */
import type { StoredMessage, StoredRun } from '@buddy/core';
import { cliFailure } from '../cli-errors.ts';
import { writeOut } from '../cli-io.ts';
import { type Command, KEY_HELP, KEY_OPTIONS, stringOption, stringsOption } from '../command.ts';
import { keysFromOptions } from '../encryption-keys.ts';
import { openPlace } from '../open-place.ts';
import { refuseCiphertextSession } from '../plain-guard.ts';
import { firstKeptIndex, readRuns } from '../session-source.ts';

function time(ms: number): string {
  return new Date(ms).toISOString();
}

function indent(text: string): string {
  return text.replace(/\n/g, '\n      ');
}

function messageLines(message: StoredMessage): string {
  switch (message.role) {
    case 'assistant': {
      const calls = (message.toolCalls ?? [])
        .map((call) => `\n    tool call ${call.name}(${call.arguments})  [${call.id}]`)
        .join('');
      return `    assistant: ${indent(message.content)}${calls}`;
    }
    case 'tool':
      return `    tool ${message.toolName}${message.isError === true ? ' (error)' : ''}: ${indent(message.content)}`;
    default:
      return `    ${message.role}: ${indent(message.content)}`;
  }
}

function runText(run: StoredRun): string {
  const head = `run ${run.index}  ${run.runId}  ${time(run.createdAt)}  ${run.status ?? 'completed'}  ${run.model.provider}/${run.model.id}  ${run.usage.inputTokens}+${run.usage.outputTokens} tokens`;
  return `${head}\n${run.messages.map(messageLines).join('\n')}\n`;
}

/** `buddy show`. */
export const showCommand: Command = {
  name: 'show',
  summary: 'print one session with its runs',
  usage: 'buddy show <url> <sessionId> [--json]',
  details: `Options:
  --json   { "session": <the stored record>, "runs": [<every run kept>] }
${KEY_HELP}`,
  options: { json: { type: 'boolean' }, ...KEY_OPTIONS },
  positionals: ['url', 'sessionId'],
  async run({ io, values, positionals, logger }) {
    const [url, sessionId] = positionals as [string, string];
    const keys = keysFromOptions(
      io,
      stringOption(values, 'key-file'),
      stringsOption(values, 'previous-key-file'),
    );
    const place = await openPlace(io, url, { mode: 'read', keys, logger });
    try {
      const record = await place.storage.getSession(sessionId);
      if (record === undefined) {
        throw cliFailure(
          'NOT_FOUND',
          `no session ${JSON.stringify(sessionId)} in ${place.url.display}`,
        );
      }
      if (!place.encrypted) refuseCiphertextSession(record, place.url.display);
      const first = await firstKeptIndex(place.storage, record);
      if (values.json === true) {
        await writeOut(io.stdout, `{"session":${JSON.stringify(record)},"runs":[`);
        let count = 0;
        for await (const run of readRuns(place.storage, record, first)) {
          await writeOut(io.stdout, `${count++ === 0 ? '' : ','}\n${JSON.stringify(run)}`);
        }
        await writeOut(io.stdout, '\n]}\n');
        return 0;
      }
      const lines = [
        `session ${record.sessionId}`,
        `  user: ${record.userId ?? '-'}   agent: ${record.agentId ?? '-'}   name: ${record.sessionName ?? '-'}`,
        `  created: ${time(record.createdAt)}   updated: ${time(record.updatedAt)}   version: ${record.version}`,
        `  runs: ${record.runCount}${first > 0 ? ` (runs 0..${first - 1} pruned)` : ''}`,
        `  state: ${JSON.stringify(record.sessionState)}`,
      ];
      if (record.metadata !== undefined)
        lines.push(`  metadata: ${JSON.stringify(record.metadata)}`);
      if (record.summary !== undefined) {
        lines.push(
          `  summary (covers ${record.summary.runsCovered} runs): ${record.summary.summary}${record.summary.topics?.length ? `  [topics: ${record.summary.topics.join(', ')}]` : ''}`,
        );
      }
      if (record.pendingRun !== undefined) {
        const waiting = record.pendingRun.approvals.map((approval) => approval.toolName).join(', ');
        lines.push(`  paused run ${record.pendingRun.runId}: waiting for approval of ${waiting}`);
      }
      await writeOut(io.stdout, `${lines.join('\n')}\n`);
      for await (const run of readRuns(place.storage, record, first)) {
        await writeOut(io.stdout, `\n${runText(run)}`);
      }
      return 0;
    } finally {
      await place.close();
    }
  },
};
