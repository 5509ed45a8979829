import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

/** What to ask, and what to do when the user confirms. */
export interface ConfirmRequest {
  title: string;
  body: ComponentChildren;
  confirmLabel: string;
  onConfirm: () => Promise<void> | void;
}

/** A modal confirmation for destructive actions; Escape or "Cancel" closes it. */
export function ConfirmDialog(props: {
  request: ConfirmRequest;
  busy: boolean;
  onCancel: () => void;
  onConfirm: () => void;
}) {
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    cancel.current?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') props.onCancel();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.onCancel]);
  return (
    <div class="backdrop">
      <div
        class="dialog"
        role="alertdialog"
        aria-modal="true"
        aria-labelledby="confirm-title"
        data-testid="confirm-dialog"
      >
        <h2 id="confirm-title">{props.request.title}</h2>
        <div class="dialog-body">{props.request.body}</div>
        <div class="dialog-actions">
          <button type="button" ref={cancel} onClick={props.onCancel} disabled={props.busy}>
            Cancel
          </button>
          <button
            type="button"
            class="danger"
            data-testid="confirm-yes"
            onClick={props.onConfirm}
            disabled={props.busy}
          >
            {props.busy ? 'Working…' : props.request.confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}
