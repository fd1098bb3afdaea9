/**
 * @module Starts Gatehouse: database (migrated or checked), dependencies, listeners;
 * and stops it in the reverse order.
 */
import { checkServe, ConfigError, terminationRangesOf, tlsFilesOf, type LoadedConfig, type ServeWhich } from "../config/load.ts";
import { createDeps, type Deps } from "../deps.ts";
import { ownAdminTarget } from "../example-app/admin-api.ts";
import { exampleAppRoutes } from "../example-app/routes.ts";
import { ensureFirstStartKeys } from "../keys/first-start.ts";
import type { Logger } from "../lib/log.ts";
import { openDatabase, type Database } from "../storage/db.ts";
import { applyMigrations, pendingMigrations } from "../storage/migrate.ts";
import { adminRoutes } from "./admin-routes.ts";
import { corsPolicy } from "./cors.ts";
import { listen, type Listener } from "./listen.ts";
import { publicCorsPaths, publicRoutes } from "./public-routes.ts";

export class StartupError extends Error {
  override name = "StartupError";
}

export interface Running {
  deps: Deps;
  listeners: Listener[];
  stop(): Promise<void>;
}

export async function startServer(loaded: LoadedConfig, which: ServeWhich, log: Logger): Promise<Running> {
  const problems = checkServe(loaded, which);
  if (problems.length > 0) throw new ConfigError(problems);
  const { config, mode } = loaded;
  // Read certificates before anything opens, so a bad path fails fast.
  const tls = {
    public: mode.forceHttp ? undefined : tlsFilesOf(config, "public"),
    admin: mode.forceHttp || !config.serve.admin.tls.enabled ? undefined : tlsFilesOf(config, "admin"),
  };

  const database = await openDatabase(config, { log: log.withTag("database"), connectTimeoutMs: config.database.connect_timeout });
  const listeners: Listener[] = [];
  try {
    await prepareSchema(database, log);
    const deps = createDeps(loaded, database, log);
    await ensureFirstStartKeys(deps);
    // The example app calls the admin API like any login app: this process's admin listener
    // (serve all), else the one serve.admin names (serve public, admin in another process).
    const exampleApp = config.example_app.enabled
      ? exampleAppRoutes({
          admin: () => ownAdminTarget(config.serve.admin, listeners.find((l) => l.name === "admin")?.address, tls.admin),
          publicUrl: config.urls.self.public,
          log: log.withTag("example-app"),
        })
      : {};
    for (const name of which === "all" ? (["public", "admin"] as const) : [which]) {
      const listener = await listen({
        name,
        // --dev never exposes an unprotected admin API to the network: loopback unless a host is set.
        listener: { ...config.serve[name], host: config.serve[name].host || (mode.dev ? "127.0.0.1" : "") },
        routes: name === "public" ? { ...publicRoutes(deps), ...exampleApp } : adminRoutes(deps),
        deps,
        tls: config.serve[name].host.startsWith("unix:") ? undefined : tls[name],
        terminationRanges: tls[name] ? [] : terminationRangesOf(config, name),
        cors: corsPolicy(config.serve[name].cors, name === "public" ? publicCorsPaths : undefined),
      });
      listeners.push(listener);
      log.info(`${name} listener on ${listener.address}`);
      if (name === "public" && config.example_app.enabled) {
        log.info(`example login app on ${config.urls.self.public}example/ (demo user foo@bar.com, password foobar)`);
      }
    }
    let stopping: Promise<void> | undefined;
    return {
      deps,
      listeners,
      stop: () =>
        (stopping ??= (async () => {
          await Promise.all(listeners.map((l) => l.stop(config.serve.shutdown_timeout)));
          await database.close();
        })()),
    };
  } catch (err) {
    await Promise.all(listeners.map((l) => l.stop(0)));
    await database.close().catch(() => {});
    throw err;
  }
}

/**
 * The embedded database migrates itself (nobody else can reach it); PostgreSQL is
 * migrated by the operator (`migrate sql`), as Hydra: serve refuses a stale schema.
 */
async function prepareSchema(database: Database, log: Logger) {
  if (database.kind !== "postgres") {
    const applied = await applyMigrations(database.db);
    if (applied.length > 0) log.info(`embedded database migrated: ${applied.join(", ")}`);
    return;
  }
  const pending = await pendingMigrations(database.db);
  if (pending.length > 0) {
    throw new StartupError(
      `the database at ${database.describe} has ${pending.length} pending migration(s) (${pending.join(", ")}); ` +
        `run "gatehouse migrate sql -e --yes" (DSN from the environment or config) before "gatehouse serve"`,
    );
  }
}
