// One document edited in two tabs, a generated form and its JSON text.
// Switching tabs carries the document across; the JSON text becomes the
// document only once it parses to an object.
import { useState } from "react";
import { isObject, type Json } from "../lib/document";
import { parseJson } from "./JsonEditor";

/** The tab showing the form or the JSON text. */
export type DocumentTab = "form" | "json";

/** State and moves of a form + JSON editor pair. */
export interface DocumentTabs {
  doc: Json;
  setDoc: (d: Json) => void;
  tab: DocumentTab;
  text: string;
  setText: (t: string) => void;
  syntaxError: string | null;
  /** The document as the active tab holds it, or null (with `syntaxError` set) when the text does not parse. */
  current: () => Json | null;
  /** Go to a tab; stays put when the JSON text does not parse. */
  switchTab: (next: string) => void;
}

/**
 * The two tabs over `initial`. `onAdopt` hears of each document taken over
 * from the JSON text (to re-check it, say).
 */
export function useDocumentTabs(initial: Json, onAdopt: (d: Json) => void = () => undefined): DocumentTabs {
  const [doc, setDoc] = useState<Json>(initial);
  const [tab, setTab] = useState<DocumentTab>("form");
  const [text, setText] = useState("");
  const [syntaxError, setSyntaxError] = useState<string | null>(null);

  const current = (): Json | null => {
    if (tab !== "json") return doc;
    const parsed = parseJson(text);
    if (parsed.error || !isObject(parsed.value)) {
      setSyntaxError(parsed.error ?? "must be a JSON object");
      return null;
    }
    setSyntaxError(null);
    setDoc(parsed.value);
    onAdopt(parsed.value);
    return parsed.value;
  };

  const switchTab = (next: string) => {
    if (next === "json") {
      setText(JSON.stringify(doc, null, 2));
      setSyntaxError(null);
    } else if (!current()) {
      return;
    }
    setTab(next === "json" ? "json" : "form");
  };

  return { doc, setDoc, tab, text, setText, syntaxError, current, switchTab };
}
