// The plugins of a route, service, consumer, group, plugin config or global
// rule: a card per configured plugin, and a picker of every enabled plugin
// (Rust and Lua) whose settings are edited in a form generated from the
// plugin's schema, or as JSON.
import { useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Alert, Button, Card, Drawer, Empty, Select, Space, Spin, Tabs, Tag, Typography } from "antd";
import { enabledPlugins, pluginSchema } from "../api/admin";
import { ApiError } from "../api/http";
import { isObject, mergeFormPart, type Json } from "../lib/document";
import { pluginFormSchema, uiSchemaFor } from "../lib/schemaForm";
import { errorsOutside, toErrorSchema, validateDocument, type FieldError } from "../lib/validate";
import { SchemaForm } from "./SchemaForm";
import { ErrorList } from "./ErrorList";
import { JsonEditor } from "./JsonEditor";
import { useDocumentTabs } from "./useDocumentTabs";

/** The schema a plugin is checked against here; consumer schemas fall back to the plain one. */
export async function schemaForPlugin(name: string, type?: "consumer"): Promise<Json> {
  if (type === "consumer") {
    try {
      return await pluginSchema(name, "consumer");
    } catch (e) {
      if (!(e instanceof ApiError) || e.status >= 500) throw e;
    }
  }
  return pluginSchema(name);
}

/** Props of the plugins section. */
export interface PluginsEditorProps {
  plugins: Json;
  onChange: (plugins: Json) => void;
  schemaType?: "consumer";
  readOnly: boolean;
}

/** The configured plugins and the picker. */
export function PluginsEditor({ plugins, onChange, schemaType, readOnly }: PluginsEditorProps) {
  const [editing, setEditing] = useState<string | null>(null);
  const [picked, setPicked] = useState<string | undefined>(undefined);
  const enabled = useQuery({ queryKey: ["plugins"], queryFn: enabledPlugins });
  const names = Object.keys(plugins).sort();
  const choices = (enabled.data ?? []).filter((p) => !(p in plugins)).map((p) => ({ value: p, label: p }));

  return (
    <Card size="small" title="Plugins" style={{ marginTop: 16 }} data-testid="plugins-section">
      {names.length === 0 && <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description="No plugins" />}
      <Space wrap>
        {names.map((name) => (
          <Card key={name} size="small" style={{ minWidth: 200 }} data-testid={`plugin-card-${name}`}>
            <Space>
              <Tag color="blue">{name}</Tag>
              <Button size="small" onClick={() => setEditing(name)}>
                {readOnly ? "View" : "Configure"}
              </Button>
              {!readOnly && (
                <Button
                  size="small"
                  danger
                  onClick={() => {
                    const next = { ...plugins };
                    delete next[name];
                    onChange(next);
                  }}
                >
                  Remove
                </Button>
              )}
            </Space>
          </Card>
        ))}
      </Space>
      {!readOnly && (
        <Space style={{ display: "flex", marginTop: 12 }}>
          <Select
            showSearch
            style={{ width: 280 }}
            placeholder="Add a plugin…"
            value={picked}
            onChange={setPicked}
            options={choices}
            loading={enabled.isLoading}
            data-testid="plugin-picker"
          />
          <Button disabled={!picked} onClick={() => picked && setEditing(picked)} data-testid="plugin-add">
            Add
          </Button>
        </Space>
      )}
      {editing && (
        <PluginDrawer
          name={editing}
          initial={isObject(plugins[editing]) ? (plugins[editing] as Json) : {}}
          schemaType={schemaType}
          readOnly={readOnly}
          onClose={() => setEditing(null)}
          onApply={(conf) => {
            onChange({ ...plugins, [editing]: conf });
            setEditing(null);
            setPicked(undefined);
          }}
        />
      )}
    </Card>
  );
}

interface PluginDrawerProps {
  name: string;
  initial: Json;
  schemaType?: "consumer";
  readOnly: boolean;
  onClose: () => void;
  onApply: (conf: Json) => void;
}

/** One plugin's settings: form or JSON, checked against its schema on apply. */
function PluginDrawer({ name, initial, schemaType, readOnly, onClose, onApply }: PluginDrawerProps) {
  const schema = useQuery({ queryKey: ["pluginSchema", name, schemaType], queryFn: () => schemaForPlugin(name, schemaType) });
  const { doc: conf, setDoc: setConf, tab, text, setText, syntaxError, current, switchTab } = useDocumentTabs(initial);
  const [errors, setErrors] = useState<FieldError[] | null>(null);

  const formSchema = useMemo(() => (schema.data ? pluginFormSchema(schema.data) : null), [schema.data]);
  const fields = formSchema && isObject(formSchema.properties) ? Object.keys(formSchema.properties) : [];

  const apply = () => {
    const c = current();
    if (!c || !schema.data) return;
    const found = validateDocument(schema.data, c);
    setErrors(found);
    if (found.length === 0) onApply(c);
  };

  const outside = errors ? (tab === "form" ? errorsOutside(errors, fields) : errors) : [];
  return (
    <Drawer
      open
      title={`Plugin ${name}`}
      size="large"
      onClose={onClose}
      extra={
        !readOnly && (
          <Button type="primary" onClick={apply} disabled={!schema.data} data-testid="plugin-apply">
            Apply
          </Button>
        )
      }
    >
      {schema.isLoading && <Spin />}
      {schema.error && <Alert type="error" showIcon title={`The schema of ${name} could not be read: ${String(schema.error)}`} />}
      {formSchema && (
        <Tabs
          activeKey={tab}
          onChange={switchTab}
          items={[
            {
              key: "form",
              label: "Form",
              children: (
                <SchemaForm
                  testId="plugin-form"
                  schema={formSchema}
                  uiSchema={uiSchemaFor(formSchema, readOnly)}
                  value={conf}
                  readOnly={readOnly}
                  errors={errors ? toErrorSchema(errors, fields) : undefined}
                  onChange={(v) => setConf(mergeFormPart(conf, fields, v))}
                />
              ),
            },
            {
              key: "json",
              label: "JSON",
              children: <JsonEditor testId="plugin-json" text={text} onChange={setText} syntaxError={syntaxError} readOnly={readOnly} height="360px" />,
            },
          ]}
        />
      )}
      <ErrorList errors={outside} title="Does not match the plugin's schema" testId="plugin-errors" />
      {errors && errors.length === 0 && <Typography.Text type="success">Valid</Typography.Text>}
    </Drawer>
  );
}
