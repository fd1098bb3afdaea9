/**
 * @module Applies the embedded drizzle/ migrations, in one transaction under an
 * advisory lock so concurrent runs are safe. Uses drizzle's own bookkeeping table
 * (drizzle.__drizzle_migrations), so drizzle-kit and Gatehouse agree on what ran.
 */
import { sql } from "drizzle-orm";
import { readMigrationFolder, type MigrationFile } from "./migration-files.macro.ts" with { type: "macro" };
import type { Db } from "./db.ts";

export const migrations: MigrationFile[] = readMigrationFolder();

// Any fixed 64-bit number; ours spells "gatehouse" in ASCII-ish hex.
const migrationLockKey = 0x6761746568n;

export interface MigrationStatus {
  tag: string;
  applied: boolean;
  appliedAt?: Date;
}

async function ensureTable(db: Db) {
  await db.execute(sql`CREATE SCHEMA IF NOT EXISTS drizzle`);
  await db.execute(sql`CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (
    id SERIAL PRIMARY KEY,
    hash text NOT NULL,
    created_at bigint
  )`);
}

async function appliedRows(db: Db): Promise<{ hash: string; created_at: number }[]> {
  const exists = await db.execute<{ t: string | null }>(sql`SELECT to_regclass('drizzle.__drizzle_migrations')::text AS t`);
  if (!rowsOf<{ t: string | null }>(exists)[0]?.t) return [];
  const rows = await db.execute<{ hash: string; created_at: string | number }>(
    sql`SELECT hash, created_at FROM drizzle.__drizzle_migrations ORDER BY created_at`,
  );
  return rowsOf<{ hash: string; created_at: string | number }>(rows).map((r) => ({ hash: r.hash, created_at: Number(r.created_at) }));
}

/** postgres-js returns an array, PGlite an object with rows. */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** drizzle's rule: a migration is applied when a row has its hash, or a later `when` was applied. */
export async function migrationStatus(db: Db): Promise<MigrationStatus[]> {
  const rows = await appliedRows(db);
  const last = rows.reduce((max, r) => Math.max(max, r.created_at), 0);
  return migrations.map((m) => {
    const row = rows.find((r) => r.hash === m.hash || r.created_at === m.when);
    return { tag: m.tag, applied: Boolean(row) || m.when <= last, appliedAt: row ? new Date(m.when) : undefined };
  });
}

export async function pendingMigrations(db: Db): Promise<string[]> {
  return (await migrationStatus(db)).filter((s) => !s.applied).map((s) => s.tag);
}

/** Applies what is pending; returns the tags applied (none if another run did them first). */
export async function applyMigrations(db: Db): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${migrationLockKey})`);
    await ensureTable(tx as unknown as Db);
    // Read again under the lock: a concurrent run may have applied them meanwhile.
    const rows = await appliedRows(tx as unknown as Db);
    const last = rows.reduce((max, r) => Math.max(max, r.created_at), 0);
    const applied: string[] = [];
    for (const m of migrations) {
      if (m.when <= last) continue;
      for (const statement of m.statements) await tx.execute(sql.raw(statement));
      await tx.execute(sql`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES (${m.hash}, ${m.when})`);
      applied.push(m.tag);
    }
    return applied;
  });
}
