// Create, view and edit one resource: a form generated from the resource's
// schema and a raw JSON editor over the same document, both checked against
// the full schema; a diff before saving; then a notice once the data plane
// serves the change.
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { useQuery } from "@tanstack/react-query";
import { Card, Select, Space, Spin, Typography } from "antd";
import { enabledPlugins, getItem, pluginSchema, resourceSchema } from "../api/admin";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import type { ResourceDef } from "../lib/resources";
import { CREDENTIALS } from "../lib/resources";
import type { Json } from "../lib/document";
import { ResourceList } from "./ResourceList";
import { EditorBody } from "./EditorBody";

/** Props: the kind, its collection path, the id (absent: create). */
export interface ResourceEditorProps {
  def: ResourceDef;
  collection: string;
  id?: string;
  /** Where Back and Cancel go. */
  backTo: string;
  /** The URL prefix of items of this collection; defaults to `backTo`. */
  itemBase?: string;
  titlePrefix?: string;
}

/** Loads what the editor needs, then shows it. */
export function ResourceEditor({ def, collection, id, backTo, itemBase, titlePrefix = "" }: ResourceEditorProps) {
  const isNew = id === undefined;
  const [metadataPlugin, setMetadataPlugin] = useState<string | undefined>(id);
  const navigate = useNavigate();
  // Plugin metadata is one item per plugin: picking a plugin that has some
  // already edits it, so the diff compares against what is stored.
  const pickMetadataPlugin = async (name: string) => {
    try {
      await getItem(collection, name);
      navigate(`${itemBase ?? backTo}/${encodeURIComponent(name)}`, { replace: true });
    } catch {
      setMetadataPlugin(name);
    }
  };
  const stored = useQuery({ queryKey: ["item", collection, id], queryFn: () => getItem(collection, id ?? ""), enabled: !isNew });
  const schemaKey = def.schema ?? `metadata:${metadataPlugin ?? ""}`;
  const schema = useQuery({
    queryKey: ["schema", schemaKey],
    queryFn: () => (def.schema ? resourceSchema(def.schema) : pluginSchema(metadataPlugin ?? "", "metadata")),
    enabled: def.schema !== null || metadataPlugin !== undefined,
  });
  const plugins = useQuery({ queryKey: ["plugins"], queryFn: enabledPlugins, enabled: def.schema === null && isNew });

  const title = `${titlePrefix}${isNew ? `New ${def.noun}` : `${def.noun[0].toUpperCase()}${def.noun.slice(1)} ${id}`}`;
  return (
    <div>
      <Space style={{ marginBottom: 8 }}>
        <Link to={backTo}>← Back</Link>
      </Space>
      <Typography.Title level={2}>{title}</Typography.Title>
      {def.schema === null && isNew && (
        <Card size="small" style={{ marginBottom: 16 }}>
          <Space>
            <span>Plugin</span>
            <Select
              showSearch
              style={{ width: 280 }}
              placeholder="Whose metadata"
              value={metadataPlugin}
              onChange={pickMetadataPlugin}
              options={(plugins.data ?? []).map((p) => ({ value: p, label: p }))}
              data-testid="metadata-plugin"
            />
          </Space>
        </Card>
      )}
      <ApiErrorAlert error={stored.error ?? schema.error} />
      {(stored.isLoading || schema.isLoading) && <Spin />}
      {schema.data && (isNew || stored.data) && (
        <EditorBody
          key={schemaKey}
          def={def}
          collection={collection}
          id={id ?? (def.schema === null ? metadataPlugin : undefined)}
          isNew={isNew}
          schema={schema.data}
          stored={stored.data?.value as Json | undefined}
          backTo={backTo}
          itemBase={itemBase ?? backTo}
        />
      )}
      {!isNew && def.path === "consumers" && id && (
        <Card style={{ marginTop: 24 }}>
          <ResourceList
            def={CREDENTIALS}
            collection={`consumers/${encodeURIComponent(id)}/credentials`}
            linkBase={`/consumers/${encodeURIComponent(id)}/credentials`}
            embedded
          />
        </Card>
      )}
    </div>
  );
}
