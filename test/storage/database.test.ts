import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { sql } from "drizzle-orm";
import { loadConfig } from "../../src/config/load.ts";
import { startServer, StartupError } from "../../src/server/app.ts";
import { DatabaseError, databaseKind, openDatabase, parsePostgresDsn, redactDsn } from "../../src/storage/db.ts";
import { applyMigrations, migrations, migrationStatus, pendingMigrations, rowsOf } from "../../src/storage/migrate.ts";
import { createTestDatabase, quietLog, type TestDatabase } from "../helpers/db.ts";
import { testSecret } from "../helpers/server.ts";

const embeddedConfig = (dir: string) => ({ dsn: "", database: { embedded: { data_dir: dir }, connect_timeout: 5000 } });

let pg: TestDatabase;
let dir: string;
beforeAll(async () => {
  pg = await createTestDatabase("storage");
  dir = mkdtempSync(join(tmpdir(), "gh-storage-"));
});
afterAll(async () => {
  await pg?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe("DSN handling", () => {
  test("kinds", () => {
    expect(databaseKind("")).toBe("embedded");
    expect(databaseKind("memory")).toBe("memory");
    expect(databaseKind("postgres://u@h/db")).toBe("postgres");
    expect(databaseKind("postgresql://u@h/db")).toBe("postgres");
    expect(() => databaseKind("mysql://u:secretpw@h/db")).toThrow(/unsupported "mysql:\/\/u:\*\*\*@h\/db"/);
  });

  test("Hydra pool parameters are read and stripped before postgres.js sees them", () => {
    const parsed = parsePostgresDsn("postgres://u:p@127.0.0.1:5432/db?max_conns=7&max_conn_lifetime=5m&sslmode=disable");
    expect(parsed.max).toBe(7);
    expect(parsed.maxLifetimeSeconds).toBe(300);
    expect(parsed.url).toBe("postgres://u:p@127.0.0.1:5432/db?sslmode=disable");
    expect(() => parsePostgresDsn("postgres://h/db?max_conns=lots")).toThrow(/max_conns must be a positive integer/);
  });

  test("Unix sockets as Hydra's pgx and libpq write them: host=/dir, a percent-encoded host, an empty host", () => {
    const viaParam = parsePostgresDsn("postgres://u:p@localhost:5433/db?host=/var/run/postgresql/&sslmode=disable&max_conns=3");
    expect(viaParam.socketPath).toBe("/var/run/postgresql/.s.PGSQL.5433");
    expect(viaParam.url).toBe("postgres://u:p@localhost:5433/db?sslmode=disable");
    expect(viaParam.max).toBe(3);
    expect(parsePostgresDsn("postgres:///db?host=/tmp").socketPath).toBe("/tmp/.s.PGSQL.5432");
    expect(parsePostgresDsn("postgres://u@/db?host=/tmp")).toMatchObject({ url: "postgres://u@localhost/db", socketPath: "/tmp/.s.PGSQL.5432" });
    expect(parsePostgresDsn("postgresql://u@%2Fvar%2Frun%2Fpostgresql/db")).toMatchObject({ url: "postgresql://u@localhost/db", socketPath: "/var/run/postgresql/.s.PGSQL.5432" });
    // An empty host without a socket directory is localhost over TCP, as libpq falls back to.
    expect(parsePostgresDsn("postgres:///db")).toMatchObject({ url: "postgres://localhost/db" });
    expect(parsePostgresDsn("postgres://u@h/db").socketPath).toBeUndefined();
    expect(() => parsePostgresDsn("postgres://u@h/db?host=relative/dir")).toThrow(/Unix socket directory/);
    expect(redactDsn("postgres://u:hunter2hunter2@/db?host=/tmp")).toBe("postgres://u:***@localhost/db?host=/tmp");
  });

  test.skipIf(!existsSync("/var/run/postgresql/.s.PGSQL.5432"))("a server is reached through its Unix socket", async () => {
    const name = new URL(pg.dsn).pathname.slice(1);
    const handle = await openDatabase({ dsn: `postgres://postgres@/${name}?host=/var/run/postgresql`, database: embeddedConfig(dir).database }, { log: quietLog });
    try {
      // inet_server_addr() is null on a Unix-socket connection.
      const rows = rowsOf<{ addr: string | null; db: string }>(await handle.db.execute(sql`select inet_server_addr()::text as addr, current_database() as db`));
      expect(rows[0]).toEqual({ addr: null, db: name });
    } finally {
      await handle.close();
    }
  });

  test("passwords never appear in descriptions", () => {
    expect(redactDsn("postgres://user:hunter2hunter2@db.example:5432/x")).toBe("postgres://user:***@db.example:5432/x");
  });
});

describe("migrations on PostgreSQL", () => {
  test("pending, then applied by concurrent runs exactly once, with drizzle's bookkeeping", async () => {
    const handles = await Promise.all([1, 2, 3].map(() => openDatabase({ dsn: pg.dsn, database: embeddedConfig(dir).database }, { log: quietLog })));
    try {
      expect(await pendingMigrations(handles[0]!.db)).toEqual(migrations.map((m) => m.tag));
      const results = await Promise.all(handles.map((h) => applyMigrations(h.db)));
      // Exactly one run applied everything; the others found nothing left under the lock.
      expect(results.filter((r) => r.length > 0)).toEqual([migrations.map((m) => m.tag)]);
      expect(await pendingMigrations(handles[0]!.db)).toEqual([]);
      const rows = rowsOf<{ hash: string; created_at: string }>(
        await handles[0]!.db.execute(sql`select hash, created_at from drizzle.__drizzle_migrations order by id`),
      );
      expect(rows.map((r) => r.hash)).toEqual(migrations.map((m) => m.hash));
      expect(rows.map((r) => Number(r.created_at))).toEqual(migrations.map((m) => m.when));
    } finally {
      await Promise.all(handles.map((h) => h.close()));
    }
  });

  test("serve refuses a database with pending migrations and names the command", async () => {
    const fresh = await createTestDatabase("pending");
    try {
      const loaded = loadConfig({ env: {}, flags: { dsn: fresh.dsn, "secrets.system": testSecret, "serve.public.host": "127.0.0.1", "serve.public.port": "0", "serve.admin.host": "127.0.0.1", "serve.admin.port": "0" }, mode: { forceHttp: true } });
      const err = await startServer(loaded, "all", quietLog).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StartupError);
      expect((err as Error).message).toContain("pending migration");
      expect((err as Error).message).toContain("gatehouse migrate sql -e --yes");
    } finally {
      await fresh.drop();
    }
  });

  test("a failed migration leaves nothing behind (one transaction)", async () => {
    const fresh = await createTestDatabase("atomic");
    const client = postgres(fresh.dsn, { max: 1, onnotice: () => {} });
    try {
      // A conflicting table makes the first migration fail halfway.
      await client.unsafe(`CREATE TABLE json_web_keys (x int)`);
      const handle = await openDatabase({ dsn: fresh.dsn, database: embeddedConfig(dir).database }, { log: quietLog });
      try {
        await expect(applyMigrations(handle.db)).rejects.toThrow();
        const tables = await client`select table_name from information_schema.tables where table_schema = 'public' order by 1`;
        expect(tables.map((t) => t.table_name)).toEqual(["json_web_keys"]);
        expect(await pendingMigrations(handle.db)).toEqual(migrations.map((m) => m.tag));
      } finally {
        await handle.close();
      }
    } finally {
      await client.end();
      await fresh.drop();
    }
  });
});

describe("unreachable PostgreSQL", () => {
  test("retries with backoff for the configured time, then fails with a clear message", async () => {
    // Nothing listens on port 1 of loopback.
    const started = Date.now();
    const err = await openDatabase(
      { dsn: "postgres://postgres:pw@127.0.0.1:1/none", database: embeddedConfig(dir).database },
      { log: quietLog, connectTimeoutMs: 1500 },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(DatabaseError);
    expect((err as Error).message).toMatch(/cannot reach PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none after [2-9] attempts/);
    expect(elapsed).toBeGreaterThan(300);
    expect(elapsed).toBeLessThan(6000);
  });
});

describe("embedded PGlite", () => {
  test("a data directory keeps data across reopen, and one process owns it", async () => {
    const dataDir = join(dir, "data");
    const first = await openDatabase(embeddedConfig(dataDir), { log: quietLog });
    await applyMigrations(first.db);
    await first.db.execute(sql`insert into json_web_keys (set_id, kid, alg, use, sealed_jwk) values ('s', 'k', 'RS256', 'sig', 'x')`);
    expect(readFileSync(join(dataDir, "gatehouse.pid"), "utf8")).toBe(String(process.pid));
    await first.close();

    const second = await openDatabase(embeddedConfig(dataDir), { log: quietLog });
    try {
      expect(await pendingMigrations(second.db)).toEqual([]);
      const rows = rowsOf<{ kid: string }>(await second.db.execute(sql`select kid from json_web_keys`));
      expect(rows.map((r) => r.kid)).toEqual(["k"]);
      expect((await migrationStatus(second.db)).every((s) => s.applied)).toBe(true);
    } finally {
      await second.close();
    }
  });

  test("a live owner's lock is refused; a dead owner's lock is taken over", async () => {
    const dataDir = join(dir, "locked");
    const sleeper = Bun.spawn(["sleep", "30"]);
    try {
      const { mkdirSync } = await import("node:fs");
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(join(dataDir, "gatehouse.pid"), String(sleeper.pid));
      await expect(openDatabase(embeddedConfig(dataDir), { log: quietLog })).rejects.toThrow(
        new RegExp(`in use by process ${sleeper.pid}; only one Gatehouse process can open it`),
      );
    } finally {
      sleeper.kill();
      await sleeper.exited;
    }
    // The owner is gone now: the stale lock is replaced.
    const db = await openDatabase(embeddedConfig(dataDir), { log: quietLog });
    expect(readFileSync(join(dataDir, "gatehouse.pid"), "utf8")).toBe(String(process.pid));
    await db.close();
  });
});
