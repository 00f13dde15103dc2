// The query string of a list request: the Admin API filters by `name`/`uri`
// (regular expressions), `label` (`key` or `key:value`) and pages with
// `page`/`page_size`.

/** What the list page asks for. */
export interface ListParams {
  search?: string;
  searchField?: string;
  label?: string;
  page: number;
  pageSize: number;
}

/** `text` as a regular expression that matches it literally. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The query string (without `?`) for `params`. */
export function listQueryString(params: ListParams): string {
  const q = new URLSearchParams();
  q.set("page", String(params.page));
  q.set("page_size", String(params.pageSize));
  const search = params.search?.trim();
  if (search && params.searchField) q.set(params.searchField, escapeRegex(search));
  const label = params.label?.trim();
  if (label) q.set("label", label);
  return q.toString();
}
