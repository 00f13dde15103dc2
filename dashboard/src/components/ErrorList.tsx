// Schema problems that no form field shows, listed in one red box.
import type { CSSProperties } from "react";
import { Alert } from "antd";
import { describeError, type FieldError } from "../lib/validate";

/** Props: the problems, the box's title and a test id. */
export interface ErrorListProps {
  errors: FieldError[];
  title: string;
  testId: string;
  style?: CSSProperties;
}

/** The box, or nothing when there are no problems. */
export function ErrorList({ errors, title, testId, style }: ErrorListProps) {
  if (!errors.length) return null;
  return (
    <Alert
      type="error"
      showIcon
      style={style}
      title={title}
      data-testid={testId}
      description={
        <ul style={{ margin: 0, paddingLeft: 18 }}>
          {errors.map((e) => (
            <li key={describeError(e)}>
              <code>{describeError(e)}</code>
            </li>
          ))}
        </ul>
      }
    />
  );
}
