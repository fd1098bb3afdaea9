/**
 * @module Opens the database: PostgreSQL through postgres.js when `dsn` is a
 * postgres URL, else embedded PGlite (a data directory, or `memory`). Both give
 * one drizzle `Db` type, so stores never know which one they talk to.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import postgres from "postgres";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/log.ts";
import * as schema from "./schema/index.ts";

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export type DatabaseKind = "postgres" | "embedded" | "memory";

export interface Database {
  db: Db;
  kind: DatabaseKind;
  /** Where it lives, safe to log (no password). */
  describe: string;
  ping(): Promise<void>;
  close(): Promise<void>;
  pool(): { max: number };
  /** Connections of this process as the server sees them, by state (PostgreSQL only). */
  poolStats(): Promise<PoolStats>;
}

export interface PoolStats {
  /** Open connections of this process's pool, by pg_stat_activity state (active, idle, idle in transaction, …). */
  byState: Record<string, number>;
}

export class DatabaseError extends Error {
  override name = "DatabaseError";
}

/** postgres.js codes for a connection that is gone, closed or never came up; Node's socket errnos. */
const unavailableCodes = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * SQLSTATEs that mean "the database cannot serve right now", not "this query is wrong":
 * class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect now),
 * 53300 (too many connections), 57014 (query canceled, e.g. statement_timeout).
 */
function isUnavailableSqlState(code: string): boolean {
  return code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "53300" || code === "57014";
}

/**
 * True when `err` (or any error in its cause chain; drizzle wraps driver errors) says the
 * database is unreachable or restarting. Such failures are temporary: callers answer 503
 * temporarily_unavailable instead of a 500, so clients retry instead of giving up.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (unavailableCodes.has(code) || (/^[0-9A-Z]{5}$/.test(code) && isUnavailableSqlState(code)))) return true;
    // PGlite after close() and postgres.js after end() say so only in the message.
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string" && /PGlite is closed|Connection terminated|connection ended/i.test(message)) return true;
  }
  return false;
}

export function databaseKind(dsn: string): DatabaseKind {
  if (dsn === "" ) return "embedded";
  if (dsn === "memory") return "memory";
  if (/^postgres(ql)?:\/\//.test(dsn)) return "postgres";
  throw new DatabaseError(
    `dsn: unsupported "${redactDsn(dsn)}": expected postgres://… or postgresql://…, "memory", or nothing for the embedded database`,
  );
}

/** A DSN without its password, for logs and errors. */
export function redactDsn(dsn: string): string {
  try {
    const u = dsnUrl(dsn);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return dsn.replace(/:[^:@/]*@/, ":***@");
  }
}

/** Hydra's sqlcon DSN parameters; postgres.js would send unknown ones to the server. */
const hydraDsnParams = ["max_conns", "max_idle_conns", "max_conn_lifetime", "max_conn_idle_time"];

/**
 * A DSN as a URL. libpq and pgx (Hydra) also accept an empty host (`postgres:///db`,
 * `postgres://user@/db`), which WHATWG URLs refuse: it means the default socket, read here
 * as localhost unless a `host=` parameter names a socket directory.
 */
function dsnUrl(dsn: string): URL {
  return new URL(dsn.replace(/^(postgres(?:ql)?:\/\/(?:[^/@?#]*@)?)(?=[/?#]|$)/, "$1localhost"));
}

export function parsePostgresDsn(dsn: string): { url: string; max: number; maxLifetimeSeconds?: number; idleTimeoutSeconds?: number; socketPath?: string } {
  const u = dsnUrl(dsn);
  const get = (k: string) => u.searchParams.get(k) ?? undefined;
  const seconds = (v: string | undefined) => {
    if (!v) return undefined;
    const m = /^(\d+)(s|m|h)?$/.exec(v);
    if (!m) throw new DatabaseError(`dsn: cannot read duration "${v}" (expected e.g. 30s, 5m)`);
    return Number(m[1]) * (m[2] === "h" ? 3600 : m[2] === "m" ? 60 : 1);
  };
  const maxText = get("max_conns");
  if (maxText !== undefined && !/^\d+$/.test(maxText)) throw new DatabaseError(`dsn: max_conns must be a positive integer, got "${maxText}"`);
  const out = {
    max: maxText ? Math.max(1, Number(maxText)) : 10,
    maxLifetimeSeconds: seconds(get("max_conn_lifetime")),
    idleTimeoutSeconds: seconds(get("max_conn_idle_time")),
  };
  for (const k of hydraDsnParams) u.searchParams.delete(k);
  // A Unix socket, as pgx (Hydra) and libpq take it: a directory in `host=/dir`, or percent-encoded
  // as the host (`postgres://user@%2Fvar%2Frun%2Fpostgresql/db`). postgres.js wants the socket file.
  const hostParam = get("host");
  u.searchParams.delete("host");
  const encodedHost = decodeURIComponent(u.hostname);
  const socketDir = hostParam ?? (encodedHost.startsWith("/") ? encodedHost : undefined);
  let socketPath: string | undefined;
  if (socketDir !== undefined) {
    if (!socketDir.startsWith("/")) throw new DatabaseError(`dsn: host parameter must be a Unix socket directory (an absolute path), got "${socketDir}"`);
    socketPath = `${socketDir.replace(/\/+$/, "")}/.s.PGSQL.${u.port || "5432"}`;
    if (encodedHost.startsWith("/")) u.hostname = "localhost";
  }
  return { url: u.toString(), ...out, ...(socketPath ? { socketPath } : {}) };
}

export interface OpenOptions {
  log: Logger;
  /** Total time to keep retrying an unreachable PostgreSQL at start. */
  connectTimeoutMs?: number;
}

export async function openDatabase(config: Pick<Config, "dsn" | "database">, options: OpenOptions): Promise<Database> {
  const kind = databaseKind(config.dsn);
  if (kind === "postgres") return openPostgres(config.dsn, options);
  return openPglite(kind === "memory" ? undefined : resolve(config.database.embedded.data_dir), options.log);
}

/** Seconds before a closed pool connection reconnects: grows with failures, jittered, at most 0.75 s. */
export function reconnectBackoffSeconds(retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** Math.min(retries, 10), 0.75);
}

/**
 * drizzle runs every query that was not given a name through postgres.js as an UNNAMED
 * statement (`unsafe(query, params, { prepare: false })`). For a query with parameters
 * postgres.js then needs the parameter types first: Parse + Describe, wait for the answer,
 * then Bind + Execute — two round trips, and PostgreSQL parses and plans the text again
 * every time. With `prepare: true` postgres.js keeps one named statement per query text (and
 * parameter types) on each connection: after its first use a query is Bind + Execute, one
 * round trip, no parse. This is postgres.js's own default for its tagged templates; drizzle's
 * queries are a fixed set of texts, so the per-connection cache stays small. Measured with
 * bench/ (BENCHMARKS.md). Statements without parameters still use the simple protocol.
 * Transactions get the same treatment: their connection-bound `sql` is wrapped as well.
 */
export function withPreparedStatements<T extends postgres.Sql<{}>>(client: T): T {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === "unsafe") {
        return (query: string, args?: unknown, options?: Record<string, unknown>) => {
          if (args !== undefined && !Array.isArray(args)) return target.unsafe(query, [], { ...(args as object), prepare: true });
          return target.unsafe(query, (args ?? []) as never[], { ...options, prepare: true });
        };
      }
      if (prop === "begin" || prop === "savepoint") {
        const original = Reflect.get(target, prop, receiver) as (...a: unknown[]) => Promise<unknown>;
        return (...a: unknown[]) => {
          const i = a.findIndex((x) => typeof x === "function");
          if (i >= 0) {
            const fn = a[i] as (tx: postgres.Sql<{}>) => unknown;
            a[i] = (tx: postgres.Sql<{}>) => fn(withPreparedStatements(tx));
          }
          return original.apply(target, a);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

async function openPostgres(dsn: string, { log, connectTimeoutMs = 30_000 }: OpenOptions): Promise<Database> {
  const parsed = parsePostgresDsn(dsn);
  const applicationName = `gatehouse:${process.pid}:${crypto.randomUUID().slice(0, 8)}`;
  const client = postgres(parsed.url, {
    ...(parsed.socketPath ? { path: parsed.socketPath } : {}),
    max: parsed.max,
    max_lifetime: parsed.maxLifetimeSeconds ?? null,
    idle_timeout: parsed.idleTimeoutSeconds ?? 0,
    connect_timeout: 5,
    // postgres.js counts failed connections pool-wide and waits (0.5-1) * min(3^n / 100, 20) s
    // before a closed connection reconnects; a query handed to that connection waits too. After a
    // PostgreSQL restart that held requests for up to 20 s (seen in test/reliability/faults-postgres-restart).
    // Capped at under a second: requests fail fast (503) or succeed as soon as PostgreSQL is back.
    backoff: reconnectBackoffSeconds,
    onnotice: () => {},
    // postgres.js keeps its pool counters private; a per-process name lets pg_stat_activity
    // tell this pool's connections apart for the metrics.
    connection: { application_name: applicationName },
  });
  const db = drizzlePostgres(withPreparedStatements(client), { schema }) as unknown as Db;
  const describe = redactDsn(dsn);
  const ping = async () => {
    await client`select 1`;
  };
  const started = Date.now();
  for (let attempt = 1, delay = 250; ; attempt++, delay = Math.min(delay * 2, 4000)) {
    try {
      await ping();
      break;
    } catch (err) {
      const elapsed = Date.now() - started;
      if (elapsed >= connectTimeoutMs) {
        await client.end({ timeout: 1 }).catch(() => {});
        throw new DatabaseError(
          `cannot reach PostgreSQL at ${describe} after ${attempt} attempts in ${Math.round(elapsed / 1000)}s: ${(err as Error).message}`,
        );
      }
      const wait = Math.min(delay, connectTimeoutMs - elapsed);
      log.warn(`database not reachable (attempt ${attempt}): ${(err as Error).message}; retrying in ${wait} ms`);
      await Bun.sleep(wait);
    }
  }
  return {
    db,
    kind: "postgres",
    describe,
    ping,
    close: () => client.end({ timeout: 5 }),
    pool: () => ({ max: parsed.max }),
    poolStats: async () => {
      // The connection running this query counts as one "active": it is part of the pool.
      const rows = await client<{ state: string | null; n: number }[]>`
        select coalesce(state, 'unknown') as state, count(*)::int as n from pg_stat_activity
        where application_name = ${applicationName} group by 1`;
      return { byState: Object.fromEntries(rows.map((r) => [r.state ?? "unknown", Number(r.n)])) };
    },
  };
}

async function openPglite(dataDir: string | undefined, log: Logger): Promise<Database> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { pgliteAssets } = await import("./pglite-assets.ts");
  let release = () => {};
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    release = lockDataDir(dataDir);
  }
  try {
    // PGlite takes its options in ONE object; new PGlite(dir, opts) would drop the assets.
    const client = new PGlite({ dataDir, ...(await pgliteAssets()) });
    await client.waitReady;
    const db = drizzlePglite(client, { schema }) as unknown as Db;
    log.debug(dataDir ? `embedded database at ${dataDir}` : "in-memory embedded database");
    return {
      db,
      kind: dataDir ? "embedded" : "memory",
      describe: dataDir ? `embedded:${dataDir}` : "memory",
      ping: async () => {
        await db.execute(sql`select 1`);
      },
      close: async () => {
        try {
          await client.close();
        } finally {
          release();
        }
      },
      pool: () => ({ max: 1 }),
      // One in-process connection, never shared.
      poolStats: async () => ({ byState: { idle: 1 } }),
    };
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * PGlite is one process's database: two processes on one directory would corrupt it.
 * A pid file inside the directory says who owns it; a dead owner's file is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const lockFile = join(dataDir, "gatehouse.pid");
  for (let tries = 0; tries < 3; tries++) {
    try {
      const fd = openSync(lockFile, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(lockFile, "utf8").trim() === String(process.pid)) rmSync(lockFile);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number(readFileSync(lockFile, "utf8").trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new DatabaseError(
          `the embedded database at ${dataDir} is in use by process ${owner}; only one Gatehouse process can open it (use PostgreSQL via DSN to run several)`,
        );
      }
      rmSync(lockFile, { force: true });
    }
  }
  throw new DatabaseError(`cannot lock the embedded database at ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
