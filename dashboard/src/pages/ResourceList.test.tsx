import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { App as AntApp } from "antd";
import { ResourceList } from "./ResourceList";
import { SessionContext } from "../session";
import { resourceByPath } from "../lib/resources";
import { fakeServer } from "../test/fakeServer";
import type { Role } from "../api/session";

const routesPage = {
  total: 1,
  list: [{ key: "/apisix/routes/1", value: { id: "1", name: "hello", uri: "/hello", upstream_id: "7", plugins: { "limit-count": {} }, labels: { env: "dev" } } }],
};

function renderList(role: Role) {
  const calls = fakeServer({ "GET /apisix/admin/routes": [200, routesPage] });
  const session = { key: "k", name: role, role };
  render(
    <MemoryRouter>
      <QueryClientProvider client={new QueryClient()}>
        <AntApp>
          <SessionContext.Provider value={{ session, readOnly: role !== "admin", signOut: () => undefined }}>
            <ResourceList def={resourceByPath("routes")!} collection="routes" />
          </SessionContext.Provider>
        </AntApp>
      </QueryClientProvider>
    </MemoryRouter>,
  );
  return calls;
}

describe("resource list", () => {
  it("shows the Admin API's items with their summary, plugins and labels", async () => {
    const calls = renderList("admin");
    expect(await screen.findByText("hello")).toBeInTheDocument();
    expect(screen.getByText("/hello")).toBeInTheDocument();
    expect(screen.getByText("upstream 7")).toBeInTheDocument();
    expect(screen.getByText("limit-count")).toBeInTheDocument();
    expect(screen.getByText("env:dev")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: /create route/i })).toBeInTheDocument();
    expect(screen.getByTestId("delete-1")).toBeInTheDocument();
    expect(calls[0]).toBe("GET /apisix/admin/routes?page=1&page_size=10");
  });

  it("offers no write controls to a viewer", async () => {
    renderList("viewer");
    expect(await screen.findByText("hello")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /create/i })).toBeNull();
    expect(screen.queryByTestId("delete-1")).toBeNull();
    expect(screen.getByText("View")).toBeInTheDocument();
  });
});
