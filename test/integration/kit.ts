/**
 * @module Shared pieces of the HTTP-layer integration tests: config from a nested
 * object, a logger that records what it writes, and one listener over a custom route table.
 */
import { createConsola, type LogObject } from "consola";
import { loadConfig, type LoadedConfig, type Mode } from "../../src/config/load.ts";
import { createDeps, type Deps } from "../../src/deps.ts";
import type { Logger } from "../../src/lib/log.ts";
import { corsPolicy } from "../../src/server/cors.ts";
import type { RouteTable } from "../../src/server/http.ts";
import { listen, type Listener } from "../../src/server/listen.ts";
import type { Database } from "../../src/storage/db.ts";
import { flatten, testSecret } from "../helpers/server.ts";

/** A config as `serve` would load it from flags; forceHttp unless told otherwise. */
export function testConfig(dsn: string, extra: Record<string, unknown> = {}, mode: Partial<Mode> = { forceHttp: true }): LoadedConfig {
  return loadConfig({
    env: {},
    flags: flatten({
      dsn,
      secrets: { system: [testSecret] },
      urls: { self: { issuer: "http://127.0.0.1:4444/" } },
      log: { level: "info" },
      ...extra,
    }),
    mode,
  });
}

export interface CapturedLog {
  log: Logger;
  /** Every entry, flattened to one string each (message and fields, as JSON). */
  lines: string[];
  entries: LogObject[];
}

/** A real consola instance whose reporter keeps the entries instead of writing them. */
export function captureLog(level = 4): CapturedLog {
  const lines: string[] = [];
  const entries: LogObject[] = [];
  const log = createConsola({
    level,
    reporters: [
      {
        log(entry) {
          entries.push(entry);
          lines.push(
            entry.args
              .map((a) => (a instanceof Error ? `${a.message}\n${a.stack}` : typeof a === "object" ? JSON.stringify(a) : String(a)))
              .join(" "),
          );
        },
      },
    ],
  });
  return { log, lines, entries };
}

export interface ListenerUnderTest {
  deps: Deps;
  listener: Listener;
  url: string;
}

/** One listener (public or admin) on 127.0.0.1:0 over `routes`, with the listener's config from `loaded`. */
export async function startListener(options: {
  loaded: LoadedConfig;
  database: Database;
  log: Logger;
  name?: "public" | "admin";
  routes: (deps: Deps) => RouteTable;
  terminationRanges?: string[];
}): Promise<ListenerUnderTest> {
  const name = options.name ?? "admin";
  const deps = createDeps(options.loaded, options.database, options.log);
  const config = options.loaded.config.serve[name];
  const listener = await listen({
    name,
    listener: { ...config, host: "127.0.0.1", port: 0 },
    routes: options.routes(deps),
    deps,
    terminationRanges: options.terminationRanges ?? [],
    cors: corsPolicy(config.cors),
  });
  return { deps, listener, url: `http://127.0.0.1:${listener.server.port}` };
}

/** A TCP port that was free a moment ago (for a child process that needs a fixed port). */
export function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

/** Polls `check` every 50 ms until it returns true or `ms` pass. */
export async function waitFor(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    if (await check()) return true;
    await Bun.sleep(50);
  }
  return false;
}
