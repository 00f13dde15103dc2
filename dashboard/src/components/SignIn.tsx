// The sign-in screen: an admin key, checked against the admin listener.
import { useState } from "react";
import { Alert, Button, Card, Form, Input, Typography } from "antd";
import { whoAmI } from "../api/dashboard";
import { ApiError } from "../api/http";
import type { Session } from "../api/session";

/** Asks for a key; calls `onSignedIn` once the server accepts it. */
export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async ({ key }: { key: string }) => {
    setBusy(true);
    setError(null);
    try {
      const who = await whoAmI(key.trim());
      onSignedIn({ key: key.trim(), name: who.name, role: who.role });
    } catch (e) {
      setError(e instanceof ApiError ? `${e.status}: ${e.message}` : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div style={{ display: "flex", justifyContent: "center", paddingTop: "12vh" }}>
      <Card style={{ width: 420 }}>
        <Typography.Title level={3}>strait dashboard</Typography.Title>
        <Typography.Paragraph type="secondary">
          Sign in with an admin key from <code>deployment.admin.admin_key</code>. Viewer keys get a
          read-only dashboard. The key is kept for this browser session only.
        </Typography.Paragraph>
        <Form layout="vertical" onFinish={submit}>
          <Form.Item label="Admin key" name="key" rules={[{ required: true, message: "Enter an admin key" }]}>
            <Input.Password autoFocus placeholder="X-API-KEY" data-testid="admin-key" />
          </Form.Item>
          {error && <Alert type="error" showIcon title={error} style={{ marginBottom: 16 }} data-testid="sign-in-error" />}
          <Button type="primary" htmlType="submit" loading={busy} block>
            Sign in
          </Button>
        </Form>
      </Card>
    </div>
  );
}
