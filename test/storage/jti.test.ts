import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { claimJti } from "../../src/oauth2/jti.ts";
import type { Database } from "../../src/storage/db.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";

let pg: TestDatabase;
const databases: Record<string, Database> = {};
beforeAll(async () => {
  pg = await createTestDatabase("jti");
  databases.postgres = await openMigrated(pg.dsn);
  databases.pglite = await openMigrated("memory");
});
afterAll(async () => {
  await Promise.all(Object.values(databases).map((d) => d.close()));
  await pg?.drop();
});

for (const kind of ["postgres", "pglite"]) {
  describe(kind, () => {
    test("a jti is claimed once until it expires, then may be claimed again", async () => {
      const db = databases[kind]!.db;
      const t0 = new Date("2026-01-01T00:00:00Z");
      const exp = new Date("2026-01-01T00:05:00Z");
      expect(await claimJti(db, "client-a", "j1", exp, t0)).toBe(true);
      expect(await claimJti(db, "client-a", "j1", exp, new Date("2026-01-01T00:04:59Z"))).toBe(false);
      // Another issuer's identical jti is a different value.
      expect(await claimJti(db, "client-b", "j1", exp, t0)).toBe(true);
      expect(await claimJti(db, "client-a", "j1", new Date("2026-01-01T00:10:00Z"), new Date("2026-01-01T00:05:00Z"))).toBe(true);
    });

    test("concurrent claims of one jti: exactly one wins", async () => {
      const db = databases[kind]!.db;
      const now = new Date("2026-02-01T00:00:00Z");
      const exp = new Date("2026-02-01T01:00:00Z");
      const results = await Promise.all(Array.from({ length: 20 }, () => claimJti(db, "c", "race", exp, now)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });
}
