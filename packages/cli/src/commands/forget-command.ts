/**
 * `buddy forget <url> --user U [--memory <url>]`: erases everything of one user: every session
 * (with its runs and lease) and every memory at `<url>`, and at each `--memory` place (where an
 * agent keeps its memories apart), and prints how much was deleted where. No key is needed:
 * deletion works on ids and owners, which are never encrypted.
 */
import { usageError } from '../cli-errors.ts';
import { type Command, stringOption, stringsOption } from '../command.ts';
import { openPlace, type Place } from '../open-place.ts';

/** `buddy forget`. */
export const forgetCommand: Command = {
  name: 'forget',
  summary: 'delete every session and memory of one user, and print the counts',
  usage: 'buddy forget <url> --user U [--memory <url>] [--json]',
  details: `Options:
  --user U         the user to forget (required)
  --memory URL     another place holding this user's memories (or sessions); repeatable
  --json           { "userId", "places": [{ "url", "sessions", "memories" }] }`,
  options: {
    user: { type: 'string' },
    memory: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  },
  positionals: ['url'],
  async run({ io, values, positionals, logger }) {
    const userId = stringOption(values, 'user');
    if (userId === undefined) throw usageError('buddy forget needs --user U (the user to forget)');
    const urls = [positionals[0] as string, ...stringsOption(values, 'memory')];
    // Every place is opened (and reached) before anything is deleted anywhere.
    const places: Place[] = [];
    try {
      for (const url of urls) places.push(await openPlace(io, url, { mode: 'write', logger }));
      const report: { url: string; sessions: number; memories: number }[] = [];
      for (const place of places) {
        const sessions = await place.rawStorage.deleteUserData(userId);
        const memories = await place.rawMemoryDb.deleteUserData(userId);
        report.push({ url: place.url.display, sessions, memories });
      }
      if (values.json === true) {
        io.stdout.write(`${JSON.stringify({ userId, places: report })}\n`);
      } else {
        for (const { url, sessions, memories } of report) {
          io.stdout.write(
            `Deleted ${sessions} session${sessions === 1 ? '' : 's'} and ${memories} memor${memories === 1 ? 'y' : 'ies'} of user ${JSON.stringify(userId)} from ${url}\n`,
          );
        }
      }
      return 0;
    } finally {
      for (const place of places) await place.close();
    }
  },
};
