// The signed-in application: navigation, header and pages.
import { lazy, Suspense, useMemo, useState } from "react";
import { Navigate, Route, Routes, useLocation, useNavigate, useParams } from "react-router-dom";
import { Button, Layout, Menu, Space, Spin, Tag, Typography } from "antd";
import { clearSession, loadSession, saveSession, type Session } from "./api/session";
import { SessionContext } from "./session";
import { SignIn } from "./components/SignIn";
import { RESOURCES, resourceByPath, CREDENTIALS } from "./lib/resources";
import { ResourceList } from "./pages/ResourceList";

// Pages with heavy parts (charts, editors) load on first use.
const ResourceEditor = lazy(() => import("./pages/ResourceEditor").then((m) => ({ default: m.ResourceEditor })));
const OverviewPage = lazy(() => import("./pages/OverviewPage").then((m) => ({ default: m.OverviewPage })));
const LlmPage = lazy(() => import("./pages/LlmPage").then((m) => ({ default: m.LlmPage })));

/** The whole UI: the sign-in gate, then the app. */
export function App() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const signOut = () => {
    clearSession();
    setSession(null);
  };
  const ctx = useMemo(
    () => (session ? { session, readOnly: session.role !== "admin", signOut } : null),
    [session],
  );
  if (!session || !ctx) {
    return (
      <SignIn
        onSignedIn={(s) => {
          saveSession(s);
          setSession(s);
        }}
      />
    );
  }
  return (
    <SessionContext.Provider value={ctx}>
      <Shell session={session} onSignOut={signOut} />
    </SessionContext.Provider>
  );
}

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const navigate = useNavigate();
  const location = useLocation();
  const selected = "/" + (location.pathname.split("/")[1] ?? "");
  const items = [
    { key: "/", label: "Overview" },
    { key: "/llm", label: "LLM usage" },
    { type: "divider" as const },
    ...RESOURCES.map((r) => ({ key: `/${r.path}`, label: r.title })),
  ];
  return (
    <Layout style={{ minHeight: "100vh" }}>
      <Layout.Sider width={210} theme="light" style={{ borderRight: "1px solid #f0f0f0" }}>
        <Typography.Title level={4} style={{ padding: "16px 24px 0" }}>
          strait
        </Typography.Title>
        <Menu mode="inline" selectedKeys={[selected]} items={items} onClick={(e) => navigate(e.key)} />
      </Layout.Sider>
      <Layout>
        <Layout.Header style={{ background: "#fff", display: "flex", justifyContent: "flex-end", borderBottom: "1px solid #f0f0f0" }}>
          <Space>
            <span>
              Signed in as <b>{session.name}</b>
            </span>
            <Tag color={session.role === "admin" ? "blue" : "default"} data-testid="role">
              {session.role === "admin" ? "admin" : "viewer (read-only)"}
            </Tag>
            <Button onClick={onSignOut}>Sign out</Button>
          </Space>
        </Layout.Header>
        <Layout.Content style={{ padding: 24 }}>
          <Suspense fallback={<Spin />}>
          <Routes>
            <Route path="/" element={<OverviewPage />} />
            <Route path="/llm" element={<LlmPage />} />
            <Route path="/consumers/:username/credentials/new" element={<CredentialEditor />} />
            <Route path="/consumers/:username/credentials/:id" element={<CredentialEditor />} />
            <Route path="/:resource" element={<ResourcePage />} />
            <Route path="/:resource/new" element={<ResourceEditorPage />} />
            <Route path="/:resource/:id" element={<ResourceEditorPage />} />
            <Route path="*" element={<Navigate to="/" replace />} />
          </Routes>
          </Suspense>
        </Layout.Content>
      </Layout>
    </Layout>
  );
}

function ResourcePage() {
  const def = resourceByPath(useParams().resource ?? "");
  if (!def) return <Navigate to="/" replace />;
  return <ResourceList key={def.path} def={def} collection={def.path} />;
}

function ResourceEditorPage() {
  const { resource, id } = useParams();
  const def = resourceByPath(resource ?? "");
  if (!def) return <Navigate to="/" replace />;
  return <ResourceEditor key={`${def.path}/${id ?? ""}`} def={def} collection={def.path} id={id} backTo={`/${def.path}`} />;
}

function CredentialEditor() {
  const { username = "", id } = useParams();
  const collection = `consumers/${encodeURIComponent(username)}/credentials`;
  return (
    <ResourceEditor
      key={`${collection}/${id ?? ""}`}
      def={CREDENTIALS}
      collection={collection}
      id={id}
      backTo={`/consumers/${encodeURIComponent(username)}`}
      itemBase={`/consumers/${encodeURIComponent(username)}/credentials`}
      titlePrefix={`Consumer ${username}: `}
    />
  );
}
