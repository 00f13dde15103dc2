// An Admin API error shown as the server said it: status and message verbatim.
import { Alert } from "antd";
import { ApiError } from "../api/http";

/** The error's text as shown to the user. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return `${e.status}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

/** A red box with the server's words, or nothing. */
export function ApiErrorAlert({ error, onClose }: { error: unknown; onClose?: () => void }) {
  if (!error) return null;
  return (
    <Alert
      type="error"
      showIcon
      closable={onClose ? { onClose } : undefined}
      title="The Admin API refused this"
      description={<code data-testid="api-error">{errorText(error)}</code>}
      style={{ marginBottom: 16 }}
    />
  );
}
