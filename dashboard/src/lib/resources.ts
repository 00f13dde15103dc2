// The resource kinds the dashboard manages, and what differs between them:
// Admin API path, schema, id field, list columns and form layout. Pages are
// generated from these definitions.

/** One kind of Admin API resource. */
export interface ResourceDef {
  /** URL segment in the dashboard and in `/apisix/admin/{path}`. */
  path: string;
  /** Plural title for menus and headings. */
  title: string;
  /** Singular noun for buttons ("Create route"). */
  noun: string;
  /** Name for `/apisix/admin/schema/{schema}`; null when per plugin. */
  schema: string | null;
  /** The field holding the id (`username` for consumers). */
  idField: string;
  /** Whether the Admin API picks an id on POST (else the user names it). */
  postAllowed: boolean;
  /** The list filter the search box sets (`name`, or `uri` for routes too). */
  searchParams: string[];
  /** Whether the kind carries `labels` (label filter shown). */
  labels: boolean;
  /** Whether the kind carries `plugins` (plugin picker shown). */
  plugins: boolean;
  /** The schema type of plugins on this kind (`consumer` for auth plugins). */
  pluginSchemaType?: "consumer";
  /** Fields the form shows, in this order; the rest is edited as JSON. */
  formFields: string[];
  /** Fields never shown or sent back as read (private keys). */
  secretFields: string[];
}

const common = { searchParams: ["name"], labels: true, plugins: false, postAllowed: false, secretFields: [] as string[] };

/** Every managed kind, in menu order. */
export const RESOURCES: ResourceDef[] = [
  {
    ...common,
    path: "routes",
    postAllowed: true,
    title: "Routes",
    noun: "route",
    schema: "route",
    idField: "id",
    searchParams: ["name", "uri"],
    plugins: true,
    formFields: [
      "name", "desc", "uri", "uris", "methods", "host", "hosts", "remote_addrs",
      "priority", "status", "upstream_id", "service_id", "plugin_config_id",
      "enable_websocket", "timeout", "labels",
    ],
  },
  {
    ...common,
    path: "services",
    postAllowed: true,
    title: "Services",
    noun: "service",
    schema: "service",
    idField: "id",
    plugins: true,
    formFields: ["name", "desc", "hosts", "upstream_id", "enable_websocket", "labels"],
  },
  {
    ...common,
    path: "upstreams",
    postAllowed: true,
    title: "Upstreams",
    noun: "upstream",
    schema: "upstream",
    idField: "id",
    formFields: [
      "name", "desc", "type", "nodes", "hash_on", "key", "scheme", "pass_host",
      "upstream_host", "retries", "retry_timeout", "timeout", "keepalive_pool", "labels",
    ],
  },
  {
    ...common,
    path: "consumers",
    title: "Consumers",
    noun: "consumer",
    schema: "consumer",
    idField: "username",
    // The Admin API filters lists by `name`, which consumers do not have.
    searchParams: [],
    plugins: true,
    pluginSchemaType: "consumer",
    formFields: ["username", "desc", "group_id", "labels"],
  },
  {
    ...common,
    path: "consumer_groups",
    title: "Consumer groups",
    noun: "consumer group",
    schema: "consumer_group",
    idField: "id",
    plugins: true,
    formFields: ["name", "desc", "labels"],
  },
  {
    ...common,
    path: "plugin_configs",
    title: "Plugin configs",
    noun: "plugin config",
    schema: "plugin_config",
    idField: "id",
    plugins: true,
    formFields: ["name", "desc", "labels"],
  },
  {
    ...common,
    path: "global_rules",
    title: "Global rules",
    noun: "global rule",
    schema: "global_rule",
    idField: "id",
    searchParams: [],
    labels: false,
    plugins: true,
    formFields: [],
  },
  {
    ...common,
    path: "ssls",
    postAllowed: true,
    title: "SSL certificates",
    noun: "certificate",
    schema: "ssl",
    idField: "id",
    searchParams: [],
    formFields: ["snis", "type", "cert", "key", "status", "labels"],
    secretFields: ["key", "keys"],
  },
  {
    ...common,
    path: "plugin_metadata",
    title: "Plugin metadata",
    noun: "plugin metadata",
    schema: null,
    idField: "id",
    searchParams: [],
    labels: false,
    formFields: [],
  },
];

/** The definition for a path segment, if any. */
export function resourceByPath(path: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.path === path);
}

/** Consumer credentials: a sub-resource of one consumer. */
export const CREDENTIALS: ResourceDef = {
  ...common,
  path: "credentials",
  title: "Credentials",
  noun: "credential",
  schema: "credential",
  idField: "id",
  searchParams: [],
  plugins: true,
  pluginSchemaType: "consumer",
  formFields: ["name", "desc", "labels"],
};
