/**
 * @module Driver probe for porsager/postgres#747 (a separate Bun process): 32 concurrent
 * callers run `select 1` through the same postgres.js as Gatehouse (pool of 10) without a
 * pause, and queries per second are reported per window. A queue that slows the longer the
 * pool stays busy shows as falling windows.
 *
 * Usage: bun bench/load/pg-queue.ts '<json {dsn, callers, windows, windowMs}>'; prints one JSON line.
 */
import postgres from "postgres";

interface ProbeConfig {
  dsn: string;
  callers: number;
  windows: number;
  windowMs: number;
}

const cfg = JSON.parse(process.argv[2] ?? "{}") as ProbeConfig;
const sql = postgres(cfg.dsn, { max: 10, onnotice: () => {}, idle_timeout: 0 });
const counts: number[] = Array.from({ length: cfg.windows }, () => 0);
let errors = 0;
const started = performance.now();
const end = started + cfg.windows * cfg.windowMs;
/** A hard cap besides the clock. */
const maxQueries = 50_000_000;
let total = 0;

await Promise.all(
  Array.from({ length: cfg.callers }, async () => {
    while (total < maxQueries) {
      const now = performance.now();
      if (now >= end) break;
      try {
        await sql`select 1`;
        const w = Math.floor((performance.now() - started) / cfg.windowMs);
        if (w < cfg.windows) counts[w]!++;
        total++;
      } catch {
        errors++;
      }
    }
  }),
);
await sql.end({ timeout: 5 });
process.stdout.write(`${JSON.stringify({ windows: counts.map((n) => n / (cfg.windowMs / 1000)), total, errors })}\n`);
process.exit(0);
