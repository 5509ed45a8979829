/**
 * `buddy export <url> [--user U] [-o file.jsonl]`: the place's sessions, runs and memories as
 * JSON Lines (`ExportRecordSchema` of `@buddy/core`), streamed: memory stays flat whatever the
 * amount of data. Without `-o` the lines go to standard output.
 */
import { resolve } from 'node:path';
import { BuddyError } from '@buddy/core';
import { cliFailure } from '../cli-errors.ts';
import { type Command, KEY_HELP, KEY_OPTIONS, stringOption, stringsOption } from '../command.ts';
import { keysFromOptions } from '../encryption-keys.ts';
import { exportLines } from '../export-lines.ts';
import { fileSink, type LineSink, outputSink } from '../line-sink.ts';
import { openPlace } from '../open-place.ts';
import { Progress } from '../progress.ts';

/** `buddy export`. */
export const exportCommand: Command = {
  name: 'export',
  summary: 'write the sessions, runs and memories of a place as JSON Lines',
  usage: 'buddy export <url> [--user U] [-o file.jsonl]',
  details: `Options:
  --user U            only this user's sessions and memories
  -o, --output FILE   write to FILE (created only when the export is complete) instead of stdout
Memories are those of the users who own a session (or of --user). The file holds everything in
clear, also when the place is encrypted: keep it safe.
${KEY_HELP}`,
  options: {
    user: { type: 'string' },
    output: { type: 'string', short: 'o' },
    ...KEY_OPTIONS,
  },
  positionals: ['url'],
  async run({ io, values, positionals, logger }) {
    const keys = keysFromOptions(
      io,
      stringOption(values, 'key-file'),
      stringsOption(values, 'previous-key-file'),
    );
    const place = await openPlace(io, positionals[0] as string, { mode: 'read', keys, logger });
    const output = stringOption(values, 'output');
    const userId = stringOption(values, 'user');
    const progress = new Progress(io.stderr, 'export');
    let sink: LineSink | undefined;
    try {
      sink = output === undefined ? outputSink(io.stdout) : await fileSink(resolve(io.cwd, output));
      let counts = { sessions: 0, runs: 0, memories: 0 };
      for await (const line of exportLines(place.storage, place.memoryDb, {
        source: place.url.display,
        userId,
        plain: !place.encrypted,
        onProgress: (now, total) => {
          counts = now;
          progress.update(
            now.sessions,
            total,
            'sessions',
            `${now.runs} runs  ${now.memories} memories`,
          );
        },
        onSkip: (sessionId, error) => {
          if (error !== undefined) {
            logger.warn(`export skipped session ${JSON.stringify(sessionId)}: ${error.message}`, {
              sessionId,
            });
          }
        },
      })) {
        await sink.write(line);
      }
      await sink.commit();
      progress.done();
      const where = output === undefined ? '' : ` to ${output}`;
      io.stderr.write(
        `Exported ${counts.sessions} sessions, ${counts.runs} runs and ${counts.memories} memories${where}\n`,
      );
      // Listing skips corrupt sessions and reports them through the logger: the export then
      // holds everything else, and says it is incomplete.
      const unread = logger.sessionsWarnedAbout.size;
      if (unread > 0) {
        io.stderr.write(
          `buddy: the export is missing ${unread} session(s) that could not be read (see the warnings above)\n`,
        );
        return 1;
      }
      return 0;
    } catch (error) {
      progress.done();
      await sink?.abort();
      if (BuddyError.is(error)) throw error;
      // The destination failed (no such directory, no permission, a closed pipe, a full disk).
      const where = output === undefined ? 'standard output' : JSON.stringify(output);
      throw cliFailure(
        'INVALID_ARGUMENT',
        `cannot write the export to ${where}: ${(error as Error).message}`,
        error,
      );
    } finally {
      await place.close();
    }
  },
};
