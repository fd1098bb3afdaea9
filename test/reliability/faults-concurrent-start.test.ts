/**
 * @module Three instances started at once on an EMPTY PostgreSQL database while three
 * `gatehouse migrate sql` runs race too: one schema (each migration applied once), one key
 * pair per set, all three healthy and publishing the same keys. Serve refuses a stale schema
 * (as Hydra), so an instance that starts before the migration finished exits and is started
 * again, as a supervisor would (bounded). The first-start key race on a migrated database is
 * test/keys/first-start.test.ts; this adds the migration race in front of it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { migrationStatus } from "../../src/storage/migrate.ts";
import { openDatabase } from "../../src/storage/db.ts";
import { accessTokenSet, idTokenSet } from "../../src/keys/types.ts";
import { createTestDatabase, quietLog, type TestDatabase } from "../helpers/db.ts";
import { testSecret } from "../helpers/server.ts";
import { freePorts, runCli, spawnServe, waitForAnswer, type ServeProcess } from "../keys/support.ts";
import { recordFigures } from "./figures.ts";

const instances = 3;
/** Restarts an instance may need while the schema is not there yet. */
const maxStarts = 10;

let pg: TestDatabase;
const processes: ServeProcess[] = [];

beforeAll(async () => {
  pg = await createTestDatabase("faults_concurrent_start");
}, 30_000);

afterAll(async () => {
  for (const p of processes) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGKILL");
  await Promise.all(processes.map((p) => p.proc.exited));
  await pg?.drop();
}, 30_000);

/** Starts one instance on fixed ports until it is ready (restarting it if it exits), bounded. */
async function supervise(ports: number[]): Promise<{ p: ServeProcess; starts: number }> {
  for (let starts = 1; starts <= maxStarts; starts++) {
    const p = spawnServe({ DSN: pg.dsn, SECRETS_SYSTEM: testSecret, LOG_LEVEL: "info" }, ports);
    processes.push(p);
    const ready = await Promise.race([
      waitForAnswer(`${p.adminUrl}/health/ready`, 30_000, (r) => r.status === 200),
      p.proc.exited.then(() => undefined),
    ]);
    if (ready?.status === 200 && p.proc.exitCode === null) return { p, starts };
    await p.proc.exited;
    if (!/pending migration/.test(p.stderr())) throw new Error(`instance exited for another reason than the schema:\n${p.stderr()}`);
    await Bun.sleep(200);
  }
  throw new Error(`instance not ready after ${maxStarts} starts`);
}

test(
  `${instances} instances + ${instances} concurrent "migrate sql" on an empty database: one schema, one key per set, all healthy`,
  async () => {
    const started = performance.now();
    const ports = freePorts(2 * instances);
    const [migrations, served] = await Promise.all([
      Promise.all(Array.from({ length: instances }, () => runCli(["migrate", "sql", pg.dsn, "--yes"], {}, 60_000))),
      Promise.all(Array.from({ length: instances }, (_, i) => supervise(ports.slice(2 * i, 2 * i + 2)))),
    ]);
    const elapsed = performance.now() - started;
    for (const m of migrations) {
      if (m.code !== 0) console.error(m.stdout, m.stderr);
      expect(m.code).toBe(0);
    }
    const applied = migrations.filter((m) => m.stdout.includes("Successfully applied")).length;

    const database = await openDatabase({ dsn: pg.dsn, database: { embedded: { data_dir: "" }, connect_timeout: 5000 } }, { log: quietLog });
    const sql = postgres(pg.dsn, { max: 1, onnotice: () => {} });
    try {
      const status = await migrationStatus(database.db);
      expect(status.length).toBeGreaterThan(0);
      expect(status.every((s) => s.applied)).toBe(true);
      // Each migration recorded once: no run applied one twice.
      const [rows] = await sql<{ n: number; distinct: number }[]>`select count(*)::int as n, count(distinct hash)::int as distinct from drizzle.__drizzle_migrations`;
      expect(rows!.n).toBe(rows!.distinct);
      expect(rows!.n).toBe(status.length);
      const keys = await sql<{ sid: string; n: number }[]>`select set_id as sid, count(*)::int as n from json_web_keys group by set_id order by set_id`;
      expect(Object.fromEntries(keys.map((k) => [k.sid, k.n]))).toEqual({ [accessTokenSet]: 2, [idTokenSet]: 2 });
    } finally {
      await sql.end();
      await database.close();
    }
    const published = await Promise.all(served.map(async ({ p }) => (await fetch(`${p.publicUrl}/.well-known/jwks.json`, { signal: AbortSignal.timeout(5000) })).text()));
    expect(new Set(published).size).toBe(1);
    for (const { p } of served) expect((await fetch(`${p.adminUrl}/health/ready`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
    console.log(
      `[faults] concurrent start: ${instances} migrate runs (${applied} printed "Successfully applied", ${instances - applied} "already applied"; each migration recorded once), ` +
        `${instances} instances ready after ${Math.round(elapsed)} ms (starts: ${served.map((s) => s.starts).join(", ")})`,
    );
    recordFigures("faults-concurrent-start", { instances, migrateRuns: instances, migrateRunsThatApplied: applied, allReadyAfterMs: Math.round(elapsed), keysPerSet: 2, startsPerInstance: served.map((s) => s.starts) });
  },
  120_000,
);
