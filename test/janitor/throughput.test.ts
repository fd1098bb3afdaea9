/**
 * Janitor throughput: rows deleted per second from a table of 100k expired access tokens (plus
 * live ones that must stay), on PostgreSQL and PGlite, at Hydra's batch size (100) and at
 * 1000 (/oauth2/flush). JANITOR_PERF_ROWS changes the row count (the suite default is 100k).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { runJanitor } from "../../src/janitor/janitor.ts";
import type { Database } from "../../src/storage/db.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";

const rows = Number(process.env.JANITOR_PERF_ROWS ?? 100_000);
const live = 1_000;
const T = new Date("2031-01-01T00:00:00Z");

let pg: TestDatabase;
const databases: Record<string, Database> = {};
beforeAll(async () => {
  pg = await createTestDatabase("janitor_perf");
  databases.PostgreSQL = await openMigrated(pg.dsn);
  databases.PGlite = await openMigrated("memory");
});
afterAll(async () => {
  await Promise.all(Object.values(databases).map((d) => d.close()));
  await pg?.drop();
});

/** Rows as issue writes them (the session column holds about what a sealed session takes). */
async function fill(db: Database["db"], prefix: string, count: number, expiresAt: Date) {
  await db.execute(sql`
    INSERT INTO oauth2_access_tokens (signature, request_id, client_id, subject, granted_scope, granted_audience, requested_at, expires_at, session)
    SELECT ${prefix} || g, 'req-' || g, 'perf-client', 'subject-' || (g % 1000), 'read write', '[]'::jsonb,
           ${T.toISOString()}::timestamptz - interval '2 hours', ${expiresAt.toISOString()}::timestamptz, repeat('x', 200)
    FROM generate_series(1, ${count}) AS g`);
  await db.execute(sql`ANALYZE oauth2_access_tokens`);
}

async function countRows(db: Database["db"]): Promise<number> {
  const result = (await db.execute(sql`SELECT count(*)::int AS n FROM oauth2_access_tokens`)) as unknown;
  const list = Array.isArray(result) ? result : (result as { rows: { n: number }[] }).rows;
  return Number((list[0] as { n: number }).n);
}

for (const name of ["PostgreSQL", "PGlite"]) {
  describe(name, () => {
    for (const batchSize of [100, 1_000]) {
      test(`${rows} expired access tokens, batch size ${batchSize}`, async () => {
        const db = databases[name]!.db;
        await db.execute(sql`TRUNCATE oauth2_access_tokens`);
        await fill(db, "expired-", rows, new Date(T.getTime() - 3600_000));
        await fill(db, "live-", live, new Date(T.getTime() + 3600_000));
        const [report] = await runJanitor(db, {
          cutoffs: { now: T, notAfter: T, refreshGraceMs: 0 },
          limit: rows + live,
          batchSize,
          groups: new Set(["tokens"]),
          requestLifespanMs: 0,
        });
        expect(report!.deleted).toBe(rows);
        expect(report!.statements).toBe(Math.floor(rows / batchSize) + 1);
        expect(await countRows(db)).toBe(live);
        const perSecond = Math.round(rows / (report!.elapsedMs / 1000));
        console.log(`janitor throughput ${name} batch ${batchSize}: ${rows} rows in ${(report!.elapsedMs / 1000).toFixed(2)} s = ${perSecond} rows/s (${report!.statements} statements)`);
      }, 120_000);
    }
  });
}
