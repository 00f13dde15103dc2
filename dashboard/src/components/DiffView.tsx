// The change about to be saved, line by line.
import type { DiffLine } from "../lib/diff";

const COLORS = { "+": "#e6ffec", "-": "#ffebe9", " ": "transparent" };

/** A unified diff of two documents. */
export function DiffView({ lines }: { lines: DiffLine[] }) {
  return (
    <pre data-testid="diff" style={{ maxHeight: 480, overflow: "auto", fontSize: 12, border: "1px solid #f0f0f0", borderRadius: 6, padding: 0 }}>
      {lines.map((l, i) => (
        <div key={i} className={`diff-${l.kind === "+" ? "add" : l.kind === "-" ? "del" : "same"}`} style={{ background: COLORS[l.kind], padding: "0 8px" }}>
          {l.kind} {l.text}
        </div>
      ))}
    </pre>
  );
}
