/**
 * Child process of the search-cache tests: another process writing the memories a cached db
 * searches. Opens a `PostgresMemoryDb` (search cache off, its own pool) on the given schema and
 * table, then reads one JSON command per line from stdin (`upsert`, `delete`, `deleteUserData`,
 * `close`), runs it and answers one line: `ok <index> <result>` or `error <index> <message>`.
 */
import { createInterface } from 'node:readline';
import type { UpsertMemoryInput } from '@buddy/core';
import { PostgresMemoryDb } from '../../src/postgres-memory-db.ts';

const { connectionString, schema, tableName } = JSON.parse(process.argv[2] ?? '{}') as {
  connectionString: string;
  schema: string;
  tableName: string;
};
const db = new PostgresMemoryDb({ connectionString, schema, tableName, searchCache: false });

type Command =
  | { op: 'upsert'; memory: UpsertMemoryInput }
  | { op: 'delete'; id: string; userId: string }
  | { op: 'deleteUserData'; userId: string }
  | { op: 'close' };

let index = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const command = JSON.parse(line) as Command;
  index += 1;
  try {
    let result: unknown;
    if (command.op === 'upsert') result = (await db.upsertMemory(command.memory)).id;
    else if (command.op === 'delete') {
      result = await db.deleteMemory({ id: command.id, userId: command.userId });
    } else if (command.op === 'deleteUserData') result = await db.deleteUserData(command.userId);
    else {
      await db.close();
      process.stdout.write(`ok ${index} closed\n`);
      break;
    }
    process.stdout.write(`ok ${index} ${JSON.stringify(result)}\n`);
  } catch (error) {
    process.stdout.write(
      `error ${index} ${error instanceof Error ? error.message.replace(/\n/g, ' ') : String(error)}\n`,
    );
  }
}
