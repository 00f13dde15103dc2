// A line diff of two documents, shown before every save.
import { diffLines } from "diff";
import { stableStringify } from "./document";

/** One line of the diff: added, removed or unchanged. */
export interface DiffLine {
  kind: "+" | "-" | " ";
  text: string;
}

/** The line diff from `before` to `after` (null `before`: a new resource). */
export function documentDiff(before: unknown, after: unknown): DiffLine[] {
  const a = before == null ? "" : stableStringify(before) + "\n";
  const b = stableStringify(after) + "\n";
  const lines: DiffLine[] = [];
  for (const part of diffLines(a, b)) {
    const kind = part.added ? "+" : part.removed ? "-" : " ";
    const text = part.value.endsWith("\n") ? part.value.slice(0, -1) : part.value;
    for (const line of text.split("\n")) lines.push({ kind, text: line });
  }
  return lines;
}

/** Whether the diff changes anything. */
export function hasChanges(lines: DiffLine[]): boolean {
  return lines.some((l) => l.kind !== " ");
}
