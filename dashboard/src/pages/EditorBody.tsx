// The editing surface of one resource: form and JSON tabs over one
// document, the plugin section, review with a diff, and save.
import { useMemo, useState } from "react";
import { useNavigate } from "react-router-dom";
import { useQueryClient } from "@tanstack/react-query";
import { Alert, App, Button, Input, Modal, Space, Tabs, Typography } from "antd";
import { request } from "../api/http";
import { waitUntilLive } from "../api/dashboard";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import { DiffView } from "../components/DiffView";
import { ErrorList } from "../components/ErrorList";
import { JsonEditor } from "../components/JsonEditor";
import { useDocumentTabs } from "../components/useDocumentTabs";
import { PluginsEditor } from "../components/PluginsEditor";
import { SchemaForm } from "../components/SchemaForm";
import { documentDiff, hasChanges, type DiffLine } from "../lib/diff";
import { editableDocument, formPart, isObject, mergeFormPart, type Json } from "../lib/document";
import { nodesForDocument, nodesToArray } from "../lib/nodes";
import type { ResourceDef } from "../lib/resources";
import { documentToValidate, saveRequest, savedId } from "../lib/saveTarget";
import { formSchema, simplifySchema, uiSchemaFor } from "../lib/schemaForm";
import { errorsOutside, toErrorSchema, validateDocument, type FieldError } from "../lib/validate";
import { useSession } from "../session";

/** Props of the editing surface. */
export interface EditorBodyProps {
  def: ResourceDef;
  collection: string;
  id?: string;
  isNew: boolean;
  schema: Json;
  stored?: Json;
  /** Where Cancel goes. */
  backTo: string;
  /** The URL prefix of items of this collection (a new item's page is `{itemBase}/{id}`). */
  itemBase: string;
}

/** The fields the form edits: the kind's list, or every field of a metadata schema. */
function formFieldsOf(def: ResourceDef, schema: Json): string[] {
  if (def.formFields.length || def.schema !== null) return def.formFields;
  const simple = simplifySchema(schema);
  return isObject(simple.properties) ? Object.keys(simple.properties) : [];
}

/** Form and JSON editors, review and save. */
export function EditorBody({ def, collection, id, isNew, schema, stored, backTo, itemBase }: EditorBodyProps) {
  const { readOnly } = useSession();
  const { message, notification } = App.useApp();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const original = useMemo(() => (stored ? editableDocument(stored, def.secretFields) : null), [stored, def.secretFields]);
  const [errors, setErrors] = useState<FieldError[] | null>(null);
  /** Problems of a document; a write-only field left out while editing keeps its stored value. */
  const check = (d: Json): FieldError[] => validateDocument(schema, documentToValidate(def, isNew, d));
  const { doc, setDoc, tab, text, setText, syntaxError, current, switchTab } = useDocumentTabs(original ?? {}, (d) => {
    if (errors) setErrors(check(d));
  });
  const [newId, setNewId] = useState("");
  const [idError, setIdError] = useState(false);
  const [review, setReview] = useState<{ doc: Json; lines: DiffLine[] } | null>(null);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);

  const fields = useMemo(() => formFieldsOf(def, schema), [def, schema]);
  const fSchema = useMemo(() => (def.schema === null ? { ...simplifySchema(schema), type: "object" } : formSchema(schema, fields)), [def.schema, schema, fields]);
  const uiSchema = useMemo(() => {
    const ui = uiSchemaFor(fSchema, readOnly);
    // A consumer's username is its id: fixed once it exists.
    if (!isNew && def.idField !== "id") ui[def.idField] = { ...(isObject(ui[def.idField]) ? (ui[def.idField] as Json) : {}), "ui:readonly": true };
    return ui;
  }, [fSchema, readOnly, isNew, def.idField]);
  const isUpstream = def.path === "upstreams";
  const formValue = useMemo(() => {
    const v = formPart(doc, fields);
    if (isUpstream && v.nodes !== undefined) v.nodes = nodesToArray(v.nodes);
    return v;
  }, [doc, fields, isUpstream]);

  const idForSave = isNew ? (def.schema === null ? id : newId.trim() || undefined) : id;

  const changeDoc = (next: Json) => {
    setDoc(next);
    if (errors) setErrors(check(next));
  };

  const onFormChange = (v: Json) => {
    const merged = mergeFormPart(doc, fields, v);
    if (isUpstream && merged.nodes !== undefined) merged.nodes = nodesForDocument(merged.nodes, original?.nodes);
    changeDoc(merged);
  };

  const startReview = () => {
    const d = current();
    if (!d) return;
    const found = check(d);
    setErrors(found);
    const missingId = isNew && def.idField === "id" && !def.postAllowed && def.schema !== null && !newId.trim();
    setIdError(missingId);
    if (found.length || missingId) return;
    setSaveError(null);
    setReview({ doc: d, lines: documentDiff(original, d) });
  };

  const save = async () => {
    if (!review) return;
    setSaving(true);
    setSaveError(null);
    try {
      const req = saveRequest(def, collection, idForSave, isNew, review.doc, original);
      const answer = await request<unknown>(req.method, `/apisix/admin/${req.path}`, { body: req.body });
      const saved = savedId(answer) ?? idForSave ?? "";
      setReview(null);
      message.success(`Saved ${def.noun} ${saved}`);
      await Promise.all(
        [["list", collection], ["item", collection], ["all", collection]].map((k) => queryClient.invalidateQueries({ queryKey: k })),
      );
      waitUntilLive()
        .then((rev) => notification.success({ title: "Live on the data plane", description: `This node now serves revision ${rev}, which includes the change.`, placement: "bottomRight" }))
        .catch((e) => notification.warning({ title: "Saved, not yet live", description: String(e instanceof Error ? e.message : e) }));
      if (isNew) navigate(`${itemBase}/${encodeURIComponent(saved)}`, { replace: true });
    } catch (e) {
      setSaveError(e);
    } finally {
      setSaving(false);
    }
  };

  const outside = errors ? (tab === "form" ? errorsOutside(errors, fields) : errors) : [];
  const showPlugins = def.plugins && tab === "form";
  return (
    <div>
      {def.secretFields.length > 0 && !isNew && (
        <Alert type="info" showIcon style={{ marginBottom: 16 }} title="The private key is write-only: it is never shown. Leave it empty to keep the stored one." />
      )}
      {isNew && def.idField === "id" && def.schema !== null && (
        <Space style={{ marginBottom: 16 }}>
          <span>ID</span>
          <Input
            value={newId}
            status={idError ? "error" : undefined}
            onChange={(e) => setNewId(e.target.value)}
            placeholder={def.postAllowed ? "blank: the server picks one" : "required"}
            style={{ width: 280 }}
            data-testid="new-id"
          />
          {idError && <Typography.Text type="danger">an ID is required for a new {def.noun}</Typography.Text>}
        </Space>
      )}
      <Tabs
        activeKey={tab}
        onChange={switchTab}
        items={[
          {
            key: "form",
            label: "Form",
            children: fields.length ? (
              <SchemaForm
                testId="resource-form"
                schema={fSchema}
                uiSchema={uiSchema}
                value={formValue}
                readOnly={readOnly}
                errors={errors ? toErrorSchema(errors, fields) : undefined}
                onChange={onFormChange}
              />
            ) : (
              <Typography.Paragraph type="secondary">This kind has no fields besides its plugins; the JSON tab shows everything.</Typography.Paragraph>
            ),
          },
          {
            key: "json",
            label: "JSON",
            children: <JsonEditor testId="resource-json" text={text} onChange={setText} syntaxError={syntaxError} readOnly={readOnly} errors={tab === "json" && errors ? errors : []} />,
          },
        ]}
      />
      {showPlugins && (
        <PluginsEditor
          plugins={isObject(doc.plugins) ? doc.plugins : {}}
          schemaType={def.pluginSchemaType}
          readOnly={readOnly}
          onChange={(p) => {
            const next = { ...doc };
            if (Object.keys(p).length) next.plugins = p;
            else delete next.plugins;
            changeDoc(next);
          }}
        />
      )}
      {tab === "form" && <ErrorList errors={outside} title="Does not match the schema" testId="document-errors" style={{ marginTop: 16 }} />}
      {!readOnly && (
        <Space style={{ marginTop: 24 }}>
          <Button type="primary" onClick={startReview} data-testid="review">
            Review and save
          </Button>
          <Button onClick={() => navigate(backTo)}>Cancel</Button>
        </Space>
      )}
      <Modal
        open={review !== null}
        title="Review the change"
        width={760}
        onCancel={() => setReview(null)}
        footer={[
          <Button key="back" onClick={() => setReview(null)}>
            Back to editing
          </Button>,
          <Button key="save" type="primary" loading={saving} onClick={save} data-testid="confirm-save">
            Save
          </Button>,
        ]}
      >
        {review && !hasChanges(review.lines) && <Alert type="info" showIcon title="Nothing changed." style={{ marginBottom: 8 }} />}
        {review && <DiffView lines={review.lines} />}
        <ApiErrorAlert error={saveError} />
      </Modal>
    </div>
  );
}
