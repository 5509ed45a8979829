/**
 * `buddy sessions <url> [--user U] [--agent A] [--limit N] [--json]`: the sessions of a place,
 * most recently updated first, as tab-separated lines or (with `--json`) a JSON array of the
 * storage's `SessionInfo` objects.
 */
import type { SessionInfo } from '@buddy/core';
import { writeOut } from '../cli-io.ts';
import { type Command, KEY_HELP, KEY_OPTIONS, stringOption, stringsOption } from '../command.ts';
import { parseCount } from '../duration.ts';
import { keysFromOptions } from '../encryption-keys.ts';
import { openPlace } from '../open-place.ts';
import { refuseCiphertextSession } from '../plain-guard.ts';
import { PAGE_SIZE } from '../session-source.ts';

function cell(value: string | undefined): string {
  return value === undefined ? '-' : value.replace(/[\t\n\r]/g, ' ');
}

/** `buddy sessions`. */
export const sessionsCommand: Command = {
  name: 'sessions',
  summary: 'list the sessions of a place, most recently updated first',
  usage: 'buddy sessions <url> [--user U] [--agent A] [--limit N] [--json]',
  details: `Options:
  --user U       only sessions of this user
  --agent A      only sessions of this agent
  --limit N      at most N sessions
  --json         a JSON array of { sessionId, userId, agentId, sessionName, createdAt, updatedAt, metadata }
${KEY_HELP}`,
  options: {
    user: { type: 'string' },
    agent: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    ...KEY_OPTIONS,
  },
  positionals: ['url'],
  async run({ io, values, positionals, logger }) {
    const limit =
      values.limit === undefined ? undefined : parseCount(String(values.limit), '--limit');
    const keys = keysFromOptions(
      io,
      stringOption(values, 'key-file'),
      stringsOption(values, 'previous-key-file'),
    );
    const place = await openPlace(io, positionals[0] as string, { mode: 'read', keys, logger });
    try {
      const userId = stringOption(values, 'user');
      const agentId = stringOption(values, 'agent');
      const json = values.json === true;
      let cursor: string | undefined;
      let printed = 0;
      if (json) await writeOut(io.stdout, '[');
      else await writeOut(io.stdout, 'SESSION\tUSER\tAGENT\tUPDATED\tNAME\n');
      while (limit === undefined || printed < limit) {
        const page = await place.storage.listSessions({
          ...(userId === undefined ? {} : { userId }),
          ...(agentId === undefined ? {} : { agentId }),
          limit:
            limit === undefined ? PAGE_SIZE : Math.min(PAGE_SIZE, Math.max(1, limit - printed)),
          ...(cursor === undefined ? {} : { cursor }),
        });
        for (const info of page.sessions as SessionInfo[]) {
          if (limit !== undefined && printed >= limit) break;
          if (!place.encrypted) refuseCiphertextSession(info, place.url.display);
          const text = json
            ? `${printed === 0 ? '\n' : ',\n'}  ${JSON.stringify(info)}`
            : `${cell(info.sessionId)}\t${cell(info.userId)}\t${cell(info.agentId)}\t${new Date(info.updatedAt).toISOString()}\t${cell(info.sessionName)}\n`;
          await writeOut(io.stdout, text);
          printed++;
        }
        cursor = page.nextCursor;
        if (cursor === undefined) break;
      }
      if (json) await writeOut(io.stdout, printed === 0 ? ']\n' : '\n]\n');
      return 0;
    } finally {
      await place.close();
    }
  },
};
