import { formatJson } from '../format.ts';

/** A JSON value, pretty-printed as text. */
export function JsonBlock(props: { value: unknown; testId?: string }) {
  return (
    <pre class="json" data-testid={props.testId}>
      {formatJson(props.value)}
    </pre>
  );
}
