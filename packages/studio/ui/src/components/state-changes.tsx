import type { StateChange } from '../../../src/api-types.ts';
import { formatInline } from '../format.ts';

/** What one run changed in the session state. */
export function StateChanges(props: { changes: StateChange[] | null }) {
  const { changes } = props;
  if (changes === null)
    return <p class="muted small">State change unknown (run stored before 0.2).</p>;
  if (changes.length === 0) return <p class="muted small">State unchanged.</p>;
  return (
    <ul class="state-changes" data-testid="state-changes">
      {changes.map((change) => (
        <li key={change.path.join('\u0000')} class={`change ${change.kind}`}>
          <span class="change-mark" aria-hidden="true">
            {change.kind === 'added' ? '+' : change.kind === 'removed' ? '−' : '~'}
          </span>
          <code class="change-path">{change.path.join('.')}</code>{' '}
          {change.kind === 'added' && <code>{formatInline(change.after)}</code>}
          {change.kind === 'removed' && <code class="before">{formatInline(change.before)}</code>}
          {change.kind === 'changed' && (
            <>
              <code class="before">{formatInline(change.before)}</code>
              {' → '}
              <code>{formatInline(change.after)}</code>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}
