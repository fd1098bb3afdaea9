/**
 * drizzle's queries reach PostgreSQL as named prepared statements (storage/db.ts
 * withPreparedStatements): one statement per query text on a connection, reused by later
 * calls and inside transactions, with correct results for different parameters. Without the
 * wrapper drizzle sends unnamed statements and pg_prepared_statements stays empty.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { pgTable, text } from "drizzle-orm/pg-core";
import postgres from "postgres";
import { openDatabase, withPreparedStatements, type Database } from "../../src/storage/db.ts";
import { createTestDatabase, quietLog, type TestDatabase } from "../helpers/db.ts";

/** A table of this test's own, so that no schema change can make the test meaningless. */
const probeRows = pgTable("probe_rows", { id: text("id").primaryKey() });

let pg: TestDatabase;
let database: Database;

beforeAll(async () => {
  pg = await createTestDatabase("prepared");
  // One connection, so pg_prepared_statements (per session) sees every statement the pool made.
  const url = new URL(pg.dsn);
  url.searchParams.set("max_conns", "1");
  database = await openDatabase({ dsn: url.toString(), database: { embedded: { data_dir: "" }, connect_timeout: 5000 } }, { log: quietLog });
  await database.db.execute(sql`create table probe_rows (id text primary key)`);
});

afterAll(async () => {
  await database?.close();
  await pg?.drop();
});

async function preparedLike(pattern: string): Promise<string[]> {
  const rows = await database.db.execute(sql`select statement from pg_prepared_statements where statement like ${pattern}`);
  return (rows as unknown as { statement: string }[]).map((r) => r.statement);
}

test("a parameterized query becomes one named statement, reused across calls and in transactions", async () => {
  const ids = ["set-a", "set-b", "set-c"];
  for (const id of ids) await database.db.insert(probeRows).values({ id });
  const read = (id: string) => database.db.select({ id: probeRows.id }).from(probeRows).where(eq(probeRows.id, id));
  expect(await read("set-a")).toEqual([{ id: "set-a" }]);
  expect(await read("set-b")).toEqual([{ id: "set-b" }]);
  expect(await read("missing")).toEqual([]);
  const inTx = await database.db.transaction(async (tx) => tx.select({ id: probeRows.id }).from(probeRows).where(eq(probeRows.id, "set-c")));
  expect(inTx).toEqual([{ id: "set-c" }]);

  const selects = await preparedLike('select "id" from "probe_rows" where%');
  expect(selects).toHaveLength(1);
  const inserts = await preparedLike('insert into "probe_rows"%');
  expect(inserts).toHaveLength(1);
});

test("a transaction's writes through the prepared path commit, and a failing one rolls back", async () => {
  await database.db.transaction(async (tx) => {
    await tx.insert(probeRows).values({ id: "tx-kept" });
  });
  await expect(
    database.db.transaction(async (tx) => {
      await tx.insert(probeRows).values({ id: "tx-dropped" });
      throw new Error("roll back");
    }),
  ).rejects.toThrow("roll back");
  const rows = await database.db.select({ id: probeRows.id }).from(probeRows).where(sql`${probeRows.id} like 'tx-%'`);
  expect(rows).toEqual([{ id: "tx-kept" }]);
});

test("control: without the wrapper, drizzle's unnamed statements leave nothing prepared", async () => {
  const client = postgres(pg.dsn, { max: 1, onnotice: () => {} });
  try {
    const count = async () => (await client.unsafe("select count(*)::int as n from pg_prepared_statements where statement like 'select $1::text%'"))[0]?.n as number;
    await client.unsafe("select $1::text as v", ["x"], { prepare: false });
    expect(await count()).toBe(0);
    const wrapped = withPreparedStatements(client);
    expect((await wrapped.unsafe("select $1::text as v", ["y"], { prepare: false }))[0]?.v).toBe("y");
    expect(await count()).toBe(1);
  } finally {
    await client.end({ timeout: 5 });
  }
});
