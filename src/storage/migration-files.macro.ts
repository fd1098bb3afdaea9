/**
 * @module Bun macro: reads drizzle/ at bundle time, so the compiled binary carries
 * its migrations without a folder beside it. Hashes as drizzle's readMigrationFiles.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface MigrationFile {
  tag: string;
  /** drizzle journal `when`, stored as created_at in drizzle.__drizzle_migrations. */
  when: number;
  hash: string;
  statements: string[];
}

export function readMigrationFolder(): MigrationFile[] {
  const folder = join(import.meta.dir, "..", "..", "drizzle");
  const journal = JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string; when: number }[];
  };
  return journal.entries.map(({ tag, when }) => {
    const text = readFileSync(join(folder, `${tag}.sql`), "utf8");
    return {
      tag,
      when,
      hash: createHash("sha256").update(text).digest("hex"),
      statements: text.split("--> statement-breakpoint").filter((s) => s.trim() !== ""),
    };
  });
}
