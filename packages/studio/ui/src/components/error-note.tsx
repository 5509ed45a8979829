/** An error from the API (its code and message) or anything else, as text. */
export function ErrorNote(props: { error: unknown }) {
  const { error } = props;
  const code =
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string'
      ? (error as { code: string }).code
      : 'ERROR';
  const message = error instanceof Error ? error.message : String(error);
  return (
    <p class="error" role="alert" data-testid="error">
      <strong>{code}</strong> {message}
    </p>
  );
}
