/**
 * @module Starts Gatehouse in-process on 127.0.0.1 with ephemeral ports, from a
 * config given as a plain object (the same path as a YAML file: loadConfig flags).
 */
import { loadConfig, type LoadedConfig, type Mode, type ServeWhich } from "../../src/config/load.ts";
import { createLogger } from "../../src/lib/log.ts";
import { startServer, type Running } from "../../src/server/app.ts";

export interface TestServer extends Running {
  loaded: LoadedConfig;
  /** Base URLs like http://127.0.0.1:PORT (no trailing slash); unix:/path for sockets. */
  publicUrl: string;
  adminUrl: string;
  /** fetch against a listener, TCP or Unix socket alike. */
  publicFetch(path: string, init?: RequestInit): Promise<Response>;
  adminFetch(path: string, init?: RequestInit): Promise<Response>;
}

export const testSecret = "test-secret-at-least-16-chars";

/** Flattens { serve: { public: { port: 0 } } } into { "serve.public.port": 0 } (config flags). */
export function flatten(obj: Record<string, unknown>, prefix = "", out: Record<string, unknown> = {}) {
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "object" && v !== null && !Array.isArray(v)) flatten(v as Record<string, unknown>, path, out);
    else out[path] = Array.isArray(v) ? JSON.stringify(v) : v;
  }
  return out;
}

export interface StartOptions {
  dsn: string;
  /** Extra config keys as a nested object. */
  config?: Record<string, unknown>;
  mode?: Partial<Mode>;
  which?: ServeWhich;
  logLevel?: "warn" | "info" | "debug" | "trace";
}

export function listenerFetch(base: string) {
  return (path: string, init: RequestInit = {}) =>
    base.startsWith("unix:")
      ? fetch(`http://localhost${path}`, { ...init, unix: base.slice(5) } as RequestInit)
      : fetch(`${base}${path}`, init);
}

export async function startTestServer(options: StartOptions): Promise<TestServer> {
  const loaded = loadConfig({
    env: {},
    flags: flatten({
      dsn: options.dsn,
      secrets: { system: [testSecret] },
      urls: { self: { issuer: "http://127.0.0.1:4444/" } },
      serve: { public: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0 } },
      log: { level: options.logLevel ?? "warn" },
      ...mergeDeep(
        {
          serve: { public: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0 } },
          // Every document, key set and logout receiver of the tests is on loopback, which the
          // SSRF guard refuses by default; tests of the guard itself turn it back on.
          clients: { http: { disallow_private_ip_ranges: false } },
        },
        options.config ?? {},
      ),
    }),
    mode: { forceHttp: true, ...options.mode },
  });
  const log = createLogger(loaded.config.log);
  const running = await startServer(loaded, options.which ?? "all", log);
  const base = (name: "public" | "admin") => {
    const l = running.listeners.find((x) => x.name === name);
    if (!l) return "";
    return l.address.startsWith("unix:") ? l.address : `${l.address.startsWith("https") ? "https" : "http"}://127.0.0.1:${l.server.port}`;
  };
  const publicUrl = base("public");
  const adminUrl = base("admin");
  return { ...running, loaded, publicUrl, adminUrl, publicFetch: listenerFetch(publicUrl), adminFetch: listenerFetch(adminUrl) };
}

function mergeDeep(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      typeof cur === "object" && cur && !Array.isArray(cur) && typeof v === "object" && v && !Array.isArray(v)
        ? mergeDeep(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}
