/**
 * @module PostgreSQL for the harness: the databases it creates (and drops at the end) on
 * 127.0.0.1:5432, and the storage ceiling measured with pgbench (one-row INSERT, one-row
 * SELECT by primary key).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { runCommand } from "./processes.ts";
import type { Measurement } from "./types.ts";

export const adminDsn = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** The harness only ever talks to a PostgreSQL on this machine. */
export function assertLoopback(dsn: string): void {
  const host = new URL(dsn).hostname;
  if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host)) throw new Error(`BENCH_POSTGRES_URL must be on loopback, got ${host}`);
}

/** Databases of this harness are named ghbench_<pid>_<label>. */
const prefix = "ghbench_";

export function dsnOf(name: string): string {
  const u = new URL(adminDsn);
  u.pathname = `/${name}`;
  return u.toString();
}

async function withAdmin<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(adminDsn, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Drops databases left behind by runs whose process no longer exists (a killed harness). */
export async function dropStaleDatabases(): Promise<string[]> {
  return withAdmin(async (sql) => {
    const rows = await sql<{ datname: string }[]>`select datname from pg_database where datname like ${`${prefix}%`}`;
    const dropped: string[] = [];
    for (const { datname } of rows) {
      const pid = Number(/^ghbench_(\d+)_/.exec(datname)?.[1]);
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = true;
      } catch {
        alive = false;
      }
      if (!alive) {
        await sql.unsafe(`drop database if exists "${datname}" with (force)`);
        dropped.push(datname);
      }
    }
    return dropped;
  });
}

export async function createDatabase(label: string): Promise<{ name: string; dsn: string }> {
  const name = `${prefix}${process.pid}_${label}`;
  await withAdmin(async (sql) => {
    await sql.unsafe(`drop database if exists "${name}" with (force)`);
    await sql.unsafe(`create database "${name}"`);
  });
  return { name, dsn: dsnOf(name) };
}

export async function dropDatabase(name: string): Promise<void> {
  await withAdmin((sql) => sql.unsafe(`drop database if exists "${name}" with (force)`));
}

export async function postgresVersion(): Promise<string> {
  return withAdmin(async (sql) => (await sql<{ v: string }[]>`select version() as v`)[0]!.v);
}

/** Tables the pgbench scripts use: a token-like row to insert, 100k rows to read by key. */
export async function preparePgbench(dsn: string): Promise<void> {
  const sql = postgres(dsn, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`
      create table pgb_insert (id text primary key, client_id text not null, payload text not null, created_at timestamptz not null default now());
      create table pgb_select (id text primary key, payload text not null);
      insert into pgb_select select md5(i::text), repeat('x', 300) from generate_series(1, 100000) i;
      analyze pgb_select;`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export const pgbenchScripts = {
  insert: join(import.meta.dir, "..", "pgbench", "insert.sql"),
  select: join(import.meta.dir, "..", "pgbench", "select.sql"),
};

/**
 * pgbench -n -M prepared -c <clients> -j 1 -T <s> -f <script>, with a 10% sample of
 * per-transaction latencies logged for p50/p99. Prepared statements, as postgres.js uses.
 */
export async function runPgbench(dsn: string, script: string, clients: number, durationS: number): Promise<Measurement> {
  const u = new URL(dsn);
  const logDir = mkdtempSync(join(tmpdir(), "ghbench-pgbench-"));
  try {
    const cmd = [
      "pgbench",
      "-n",
      "-M",
      "prepared",
      "-c",
      String(clients),
      "-j",
      "1",
      "-T",
      String(durationS),
      "-f",
      script,
      "-l",
      "--sampling-rate=0.1",
      "-h",
      u.hostname,
      "-p",
      u.port || "5432",
      "-U",
      decodeURIComponent(u.username || "postgres"),
      u.pathname.slice(1),
    ];
    const out = await runCommand(cmd, { cwd: logDir, timeoutMs: (durationS + 60) * 1000 });
    if (out.code !== 0) throw new Error(`pgbench failed (exit ${out.code}):\n${out.stdout}${out.stderr}`);
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out.stdout);
    const processed = /number of transactions actually processed: (\d+)/.exec(out.stdout);
    const failed = /number of failed transactions: (\d+)/.exec(out.stdout);
    if (!tps || !processed) throw new Error(`unexpected pgbench output:\n${out.stdout}`);
    const latencies: number[] = [];
    for (const file of readdirSync(logDir)) {
      for (const line of readFileSync(join(logDir, file), "utf8").split("\n")) {
        // client_id transaction_no time_us script_no time_epoch time_us
        const us = Number(line.split(" ")[2]);
        if (Number.isFinite(us) && line !== "") latencies.push(us / 1000);
      }
    }
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]! : NaN);
    return {
      rps: Number(tps[1]),
      p50Ms: pct(50),
      p99Ms: pct(99),
      errors: failed ? Number(failed[1]) : 0,
      requests: Number(processed[1]),
      durationS,
      raw: `$ ${cmd.join(" ")}\n${out.stdout}${out.stderr}`,
      note: `pgbench -c ${clients} -j 1, prepared; p50/p99 from a 10% sample`,
    };
  } finally {
    rmSync(logDir, { recursive: true, force: true });
  }
}
