// Vite build of the dashboard: static files under dist/, served by strait's
// admin listener at /ui/. `npm run dev` proxies the APIs to a local strait.
import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

const admin = process.env.STRAIT_ADMIN ?? "http://127.0.0.1:9180";

export default defineConfig({
  base: "/ui/",
  plugins: [react()],
  build: { outDir: "dist", chunkSizeWarningLimit: 4096, sourcemap: false },
  server: {
    proxy: { "/apisix/admin": admin, "/ui/api": admin },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
  },
});
