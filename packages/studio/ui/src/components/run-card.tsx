import type { StoredMessage, ToolCall, ToolMessage } from '@buddy/core/spec';
import type { StudioRun } from '../../../src/api-types.ts';
import { formatArguments, formatInline, formatTime } from '../format.ts';
import { JsonBlock } from './json-block.tsx';
import { StateChanges } from './state-changes.tsx';

/** One tool call, expandable to its arguments and result. */
export function ToolCallView(props: { call: ToolCall; result?: ToolMessage | undefined }) {
  const { call, result } = props;
  let inlineArguments = call.arguments;
  try {
    inlineArguments = formatInline(JSON.parse(call.arguments), 80);
  } catch {
    inlineArguments = call.arguments.slice(0, 80);
  }
  return (
    <details class="tool-call" data-testid="tool-call">
      <summary>
        <span class="tool-icon" aria-hidden="true">
          ⚙
        </span>{' '}
        <span class="tool-name">{call.name}</span> <code class="muted">{inlineArguments}</code>
        {result?.isError === true && <span class="badge error-badge">error</span>}
        {result === undefined && <span class="badge">no result</span>}
      </summary>
      <div class="tool-body">
        <h5>Arguments</h5>
        <pre class="json" data-testid="tool-arguments">
          {formatArguments(call.arguments)}
        </pre>
        <h5>Result</h5>
        <pre class="json" data-testid="tool-result">
          {result === undefined ? '(none)' : result.content}
        </pre>
      </div>
    </details>
  );
}

function MessageView(props: { message: StoredMessage; results: Map<string, ToolMessage> }) {
  const { message, results } = props;
  if (message.role === 'tool') return null; // shown inside its call
  if (message.role === 'assistant') {
    return (
      <div class="message assistant" data-testid="message-assistant">
        <span class="role">Assistant</span>
        {message.content !== '' && <p class="text">{message.content}</p>}
        {message.toolCalls?.map((call) => (
          <ToolCallView key={call.id} call={call} result={results.get(call.id)} />
        ))}
      </div>
    );
  }
  return (
    <div class={`message ${message.role}`} data-testid={`message-${message.role}`}>
      <span class="role">{message.role === 'user' ? 'User' : 'System'}</span>
      <p class="text">{message.content}</p>
    </div>
  );
}

/** A run: its messages, tool calls, usage and what it changed in the state. */
export function RunCard(props: { run: StudioRun }) {
  const { run } = props;
  const results = new Map<string, ToolMessage>();
  const calledIds = new Set<string>();
  for (const message of run.messages) {
    if (message.role === 'tool') results.set(message.toolCallId, message);
    if (message.role === 'assistant')
      for (const call of message.toolCalls ?? []) calledIds.add(call.id);
  }
  // A tool result whose call is not in this run (should not happen) is still shown.
  const orphans = [...results.values()].filter((message) => !calledIds.has(message.toolCallId));
  return (
    <article class="run card" data-testid="run" data-run-index={run.index}>
      <header class="run-header">
        <strong>Run {run.index + 1}</strong>
        <span class="muted">{formatTime(run.createdAt)}</span>
        <span class="muted">
          {run.model.provider}/{run.model.id}
        </span>
        <span class="muted" data-testid="run-usage">
          {run.usage.inputTokens.toLocaleString('en-US')} in ·{' '}
          {run.usage.outputTokens.toLocaleString('en-US')} out tokens
        </span>
        <span class="muted">{((run.completedAt - run.createdAt) / 1000).toFixed(1)} s</span>
      </header>
      {run.messages.map((message) => (
        <MessageView key={message.id} message={message} results={results} />
      ))}
      {orphans.map((message) => (
        <div class="message tool" key={message.id}>
          <span class="role">Tool {message.toolName}</span>
          <pre class="json">{message.content}</pre>
        </div>
      ))}
      <section class="run-state">
        <h4>State change</h4>
        <StateChanges changes={run.stateChanges} />
        {run.stateAfter !== null && (
          <details>
            <summary class="small">State after this run</summary>
            <JsonBlock value={run.stateAfter} />
          </details>
        )}
      </section>
    </article>
  );
}
