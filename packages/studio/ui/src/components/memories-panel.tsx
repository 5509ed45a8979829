import type { UserMemory } from '@buddy/core/spec';
import { useEffect, useState } from 'preact/hooks';
import type { StudioMemoryList } from '../../../src/api-types.ts';
import { api, segment } from '../api-client.ts';
import { formatTime } from '../format.ts';
import { ErrorNote } from './error-note.tsx';

/** What the agent remembers about a user: each memory with its topics, dates and source. */
export function MemoriesPanel(props: { userId: string; reloadKey: number }) {
  const [memories, setMemories] = useState<UserMemory[] | undefined>();
  const [hasMore, setHasMore] = useState(false);
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    let current = true;
    setError(undefined);
    api<StudioMemoryList>('GET', `users/${segment(props.userId)}/memories`).then(
      (list) => {
        if (!current) return;
        setMemories(list.memories);
        setHasMore(list.hasMore);
      },
      (failure: unknown) => current && setError(failure),
    );
    return () => {
      current = false;
    };
  }, [props.userId, props.reloadKey]);

  return (
    <section class="card" aria-label="Memories">
      <h3>Memories</h3>
      {error !== undefined && <ErrorNote error={error} />}
      {memories?.length === 0 && <p class="muted">No memories about this user.</p>}
      <ul class="memories" data-testid="memories">
        {memories?.map((memory) => (
          <li key={memory.id} class="memory" data-testid="memory">
            <p class="text">{memory.memory}</p>
            <div class="chips">
              {(memory.topics ?? []).map((topic) => (
                <span class="chip" key={topic}>
                  {topic}
                </span>
              ))}
            </div>
            <p class="muted small">
              created {formatTime(memory.createdAt)}
              {memory.updatedAt !== memory.createdAt &&
                ` · updated ${formatTime(memory.updatedAt)}`}
            </p>
            {memory.input !== undefined && (
              <p class="muted small">
                learnt from: <q>{memory.input}</q>
              </p>
            )}
          </li>
        ))}
      </ul>
      {hasMore && <p class="muted small">Showing the newest {memories?.length} memories.</p>}
    </section>
  );
}
