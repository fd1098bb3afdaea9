/**
 * @module A fresh PostgreSQL database per test file (created on 127.0.0.1, dropped
 * afterwards), and a shared in-memory PGlite, each migrated like production.
 */
import postgres from "postgres";
import { createLogger } from "../../src/lib/log.ts";
import { openDatabase, type Database } from "../../src/storage/db.ts";
import { applyMigrations } from "../../src/storage/migrate.ts";

export const adminDsn = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export const quietLog = createLogger({ level: "warn", format: "text" });

export interface TestDatabase {
  /** DSN of the new, empty database. */
  dsn: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates an empty database named after the test file; drop() removes it even if connections linger. */
export async function createTestDatabase(label = "t"): Promise<TestDatabase> {
  const name = `gh_${label.replace(/[^a-z0-9]/gi, "_").toLowerCase().slice(0, 30)}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(adminDsn, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminDsn);
  url.pathname = `/${name}`;
  return {
    dsn: url.toString(),
    name,
    async drop() {
      const admin = postgres(adminDsn, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

/** Opens and migrates a database: a PostgreSQL DSN, or "memory" for PGlite. */
export async function openMigrated(dsn: string): Promise<Database> {
  const database = await openDatabase({ dsn, database: { embedded: { data_dir: "" }, connect_timeout: 5000 } }, { log: quietLog });
  await applyMigrations(database.db);
  return database;
}
