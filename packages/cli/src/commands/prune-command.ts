/**
 * `buddy prune <url> [--older-than 30d] [--keep-last-runs N] [--user U]`: retention through the
 * storage contract's `prune` (SPEC §15.2), the same on every backend: deletes sessions not
 * updated for the given time, and older runs beyond the last N of every session (never a run its
 * summary does not cover yet). Prints what it deleted.
 */
import { cliFailure, usageError } from '../cli-errors.ts';
import { type Command, stringOption } from '../command.ts';
import { parseCount, parseDuration } from '../duration.ts';
import { openPlace } from '../open-place.ts';

/** `buddy prune`. */
export const pruneCommand: Command = {
  name: 'prune',
  summary: 'delete old sessions and old runs (retention)',
  usage: 'buddy prune <url> [--older-than 30d] [--keep-last-runs N] [--user U] [--json]',
  details: `Options (at least one of the first two):
  --older-than D       delete sessions not updated for D (30d, 12h, 90m, 45s, 2w)
  --keep-last-runs N   keep the last N runs of every session (runs not yet summarized stay)
  --user U             only this user's sessions
  --json               { "sessionsDeleted", "runsDeleted" }`,
  options: {
    'older-than': { type: 'string' },
    'keep-last-runs': { type: 'string' },
    user: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: ['url'],
  async run({ io, values, positionals, logger }) {
    const olderThan = stringOption(values, 'older-than');
    const keepLastRuns = stringOption(values, 'keep-last-runs');
    const userId = stringOption(values, 'user');
    if (olderThan === undefined && keepLastRuns === undefined) {
      throw usageError('buddy prune needs --older-than D or --keep-last-runs N (or both)');
    }
    const input = {
      ...(olderThan === undefined
        ? {}
        : { olderThan: Date.now() - parseDuration(olderThan, '--older-than') }),
      ...(keepLastRuns === undefined
        ? {}
        : { keepLastRuns: parseCount(keepLastRuns, '--keep-last-runs') }),
      ...(userId === undefined ? {} : { userId }),
    };
    const place = await openPlace(io, positionals[0] as string, { mode: 'read', logger });
    try {
      if (typeof (place.rawStorage as Partial<typeof place.rawStorage>).prune !== 'function') {
        throw cliFailure(
          'INVALID_ARGUMENT',
          `the ${place.rawStorage.backend} storage of ${place.url.display} has no prune (it needs a storage package of contract 0.2 or later: update it)`,
        );
      }
      const result = await place.rawStorage.prune(input);
      if (values.json === true) io.stdout.write(`${JSON.stringify(result)}\n`);
      else {
        io.stdout.write(
          `Deleted ${result.sessionsDeleted} sessions and ${result.runsDeleted} runs from ${place.url.display}\n`,
        );
      }
      return 0;
    } finally {
      await place.close();
    }
  },
};
