// A form generated from a JSON schema (react-jsonschema-form, Ant Design
// theme), with pickers for fields that refer to other resources. Validation
// errors are passed in (from the full schema) and shown next to each field.
import { Form } from "@rjsf/antd";
import type { RegistryWidgetsType, WidgetProps } from "@rjsf/utils";
import validator from "@rjsf/validator-ajv8";
import { useQuery } from "@tanstack/react-query";
import { Select } from "antd";
import { allItems, idFromKey } from "../api/admin";
import { displayName } from "../lib/columns";
import type { Json } from "../lib/document";

/** A select of the existing items of a collection (`ui:options.resource`). */
function ReferenceWidget(props: WidgetProps) {
  const resource = String(props.options.resource ?? "");
  const items = useQuery({ queryKey: ["all", resource], queryFn: () => allItems(resource) });
  const options = (items.data ?? []).map((i) => {
    const id = idFromKey(i.key);
    const name = displayName(i.value);
    return { value: id, label: name ? `${id} (${name})` : id };
  });
  return (
    <Select
      id={props.id}
      data-testid={`ref-${props.name}`}
      allowClear
      showSearch
      disabled={props.disabled || props.readonly}
      loading={items.isLoading}
      value={props.value === undefined || props.value === null ? undefined : String(props.value)}
      options={options}
      placeholder={`Pick one of the ${resource.replace(/_/g, " ")}`}
      onChange={(v) => props.onChange(v === undefined ? undefined : v)}
    />
  );
}

const widgets: RegistryWidgetsType = { reference: ReferenceWidget };

/** Props of a schema form. */
export interface SchemaFormProps {
  schema: Json;
  uiSchema: Json;
  value: Json;
  onChange: (v: Json) => void;
  /** Errors in RJSF's ErrorSchema shape, from full-schema validation. */
  errors?: Json;
  readOnly?: boolean;
  testId?: string;
}

/** The form; never submits on its own (saving goes through the diff). */
export function SchemaForm({ schema, uiSchema, value, onChange, errors, readOnly, testId }: SchemaFormProps) {
  return (
    <div data-testid={testId}>
      <Form
        schema={schema}
        uiSchema={uiSchema}
        formData={value}
        validator={validator}
        widgets={widgets}
        readonly={readOnly}
        noHtml5Validate
        showErrorList={false}
        extraErrors={errors as never}
        extraErrorsBlockSubmit={false}
        onChange={(e) => onChange((e.formData ?? {}) as Json)}
        experimental_defaultFormStateBehavior={{ emptyObjectFields: "skipDefaults", arrayMinItems: { populate: "never" } }}
      />
    </div>
  );
}
