// The raw JSON editor: CodeMirror 6 with JSON highlighting, syntax errors
// marked in the gutter, and schema errors listed under it.
import CodeMirror from "@uiw/react-codemirror";
import { json, jsonParseLinter } from "@codemirror/lang-json";
import { linter, lintGutter } from "@codemirror/lint";
import { Alert } from "antd";
import type { FieldError } from "../lib/validate";
import { ErrorList } from "./ErrorList";

const extensions = [json(), linter(jsonParseLinter()), lintGutter()];

/** Props: the text, its change handler, and the problems found in it. */
export interface JsonEditorProps {
  text: string;
  onChange: (text: string) => void;
  /** A syntax error, if the text does not parse. */
  syntaxError?: string | null;
  /** Schema errors of the parsed document. */
  errors?: FieldError[];
  readOnly?: boolean;
  height?: string;
  testId?: string;
}

/** The editor with its error list. */
export function JsonEditor({ text, onChange, syntaxError, errors = [], readOnly, height = "420px", testId }: JsonEditorProps) {
  return (
    <div data-testid={testId}>
      <CodeMirror
        value={text}
        height={height}
        extensions={extensions}
        editable={!readOnly}
        readOnly={readOnly}
        basicSetup={{ foldGutter: true, lineNumbers: true }}
        onChange={onChange}
        style={{ border: "1px solid #d9d9d9", borderRadius: 6, fontSize: 13 }}
      />
      {syntaxError && <Alert type="error" showIcon style={{ marginTop: 8 }} title={`Not valid JSON: ${syntaxError}`} data-testid="json-syntax-error" />}
      {!syntaxError && <ErrorList errors={errors} title="Does not match the schema" testId="json-schema-errors" style={{ marginTop: 8 }} />}
    </div>
  );
}

/** Parse editor text: the value, or the syntax error. */
export function parseJson(text: string): { value?: unknown; error?: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}
