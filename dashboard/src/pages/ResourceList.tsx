// A resource list: search, label filter and paging done by the Admin API;
// edit and delete per row; the Admin API's refusal shown verbatim.
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { App, Button, Input, Popconfirm, Select, Space, Table, Tag, Typography } from "antd";
import { deleteItem, idFromKey, listItems, type StoredItem } from "../api/admin";
import { waitUntilLive } from "../api/dashboard";
import { ApiErrorAlert } from "../components/ApiErrorAlert";
import type { ResourceDef } from "../lib/resources";
import { displayName, labelPairs, pluginNames, summaryColumns } from "../lib/columns";
import { useSession } from "../session";

/** Props: which kind, and where its items live (`routes`, `consumers/x/credentials`). */
export interface ResourceListProps {
  def: ResourceDef;
  collection: string;
  /** Where links to items point; defaults to `/{collection}`. */
  linkBase?: string;
  /** Shown inside another page: no page title. */
  embedded?: boolean;
}

/** The list page of one kind. */
export function ResourceList({ def, collection, linkBase, embedded }: ResourceListProps) {
  const { readOnly } = useSession();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const base = linkBase ?? `/${collection}`;
  const [searchField, setSearchField] = useState(def.searchParams[0]);
  const [search, setSearch] = useState("");
  const [label, setLabel] = useState("");
  const [page, setPage] = useState(1);
  const [pageSize, setPageSize] = useState(10);
  const [deleteError, setDeleteError] = useState<unknown>(null);

  const params = { search, searchField, label, page, pageSize };
  const query = useQuery({
    queryKey: ["list", collection, params],
    queryFn: () => listItems(collection, params),
  });

  const remove = async (id: string) => {
    setDeleteError(null);
    try {
      await deleteItem(collection, id);
      message.success(`Deleted ${def.noun} ${id}`);
      await queryClient.invalidateQueries({ queryKey: ["list", collection] });
      await queryClient.invalidateQueries({ queryKey: ["all", collection] });
      waitUntilLive()
        .then((rev) => message.info(`Live on the data plane (revision ${rev})`))
        .catch(() => undefined);
    } catch (e) {
      setDeleteError(e);
    }
  };

  const columns = [
    {
      title: def.idField === "username" ? "Username" : "ID",
      key: "id",
      render: (_: unknown, item: StoredItem) => {
        const id = idFromKey(item.key);
        return <Link to={`${base}/${encodeURIComponent(id)}`}>{id}</Link>;
      },
    },
    ...(def.idField === "username" ? [] : [{ title: "Name", key: "name", render: (_: unknown, i: StoredItem) => displayName(i.value) }]),
    ...summaryColumns(def.path).map((c) => ({
      title: c.title,
      key: c.title,
      render: (_: unknown, i: StoredItem) => <Typography.Text ellipsis style={{ maxWidth: 320 }}>{c.text(i.value)}</Typography.Text>,
    })),
    ...(def.plugins
      ? [{ title: "Plugins", key: "plugins", render: (_: unknown, i: StoredItem) => pluginNames(i.value).map((p) => <Tag key={p}>{p}</Tag>) }]
      : []),
    ...(def.labels
      ? [{ title: "Labels", key: "labels", render: (_: unknown, i: StoredItem) => labelPairs(i.value).map((l) => <Tag color="geekblue" key={l}>{l}</Tag>) }]
      : []),
    {
      title: "Actions",
      key: "actions",
      render: (_: unknown, item: StoredItem) => {
        const id = idFromKey(item.key);
        return (
          <Space>
            <Link to={`${base}/${encodeURIComponent(id)}`}>{readOnly ? "View" : "Edit"}</Link>
            {!readOnly && (
              <Popconfirm title={`Delete ${def.noun} ${id}?`} okText="Delete" okButtonProps={{ danger: true }} onConfirm={() => remove(id)}>
                <Button type="link" danger size="small" data-testid={`delete-${id}`}>
                  Delete
                </Button>
              </Popconfirm>
            )}
          </Space>
        );
      },
    },
  ];

  return (
    <div>
      <Space style={{ width: "100%", justifyContent: "space-between", marginBottom: 16 }} wrap>
        {embedded ? <Typography.Title level={4} style={{ margin: 0 }}>{def.title}</Typography.Title> : <Typography.Title level={2} style={{ margin: 0 }}>{def.title}</Typography.Title>}
        {!readOnly && (
          <Button type="primary" onClick={() => navigate(`${base}/new`)}>
            Create {def.noun}
          </Button>
        )}
      </Space>
      {(def.searchParams.length > 0 || def.labels) && (
        <Space style={{ marginBottom: 16 }} wrap>
          {def.searchParams.length > 1 && (
            <Select value={searchField} onChange={setSearchField} style={{ width: 110 }} options={def.searchParams.map((p) => ({ value: p, label: p }))} />
          )}
          {def.searchParams.length > 0 && (
            <Input.Search
              allowClear
              placeholder={`Search by ${searchField}`}
              style={{ width: 260 }}
              onSearch={(v) => {
                setSearch(v);
                setPage(1);
              }}
            />
          )}
          {def.labels && (
            <Input.Search
              allowClear
              placeholder="Label: key or key:value"
              style={{ width: 260 }}
              onSearch={(v) => {
                setLabel(v);
                setPage(1);
              }}
            />
          )}
        </Space>
      )}
      <ApiErrorAlert error={deleteError ?? query.error} onClose={() => setDeleteError(null)} />
      <Table<StoredItem>
        rowKey="key"
        size="middle"
        loading={query.isLoading}
        dataSource={query.data?.list ?? []}
        columns={columns}
        pagination={{
          current: page,
          pageSize,
          total: query.data?.total ?? 0,
          showSizeChanger: true,
          pageSizeOptions: [10, 20, 50, 100],
          showTotal: (t) => `${t} in all`,
          onChange: (p, s) => {
            setPage(p);
            setPageSize(s);
          },
        }}
      />
    </div>
  );
}
