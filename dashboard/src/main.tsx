// Entry point: providers (router under /ui, data cache, theme) and the app.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { App as AntApp, ConfigProvider } from "antd";
import { App } from "./App";

const queryClient = new QueryClient({
  defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } },
});

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <BrowserRouter basename="/ui">
        <QueryClientProvider client={queryClient}>
          <ConfigProvider theme={{ token: { colorPrimary: "#1f6feb" } }}>
            <AntApp>
              <App />
            </AntApp>
          </ConfigProvider>
        </QueryClientProvider>
      </BrowserRouter>
    </StrictMode>,
  );
}
