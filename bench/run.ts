/**
 * @module `bun run bench [--quick]`: Gatehouse side by side with oidc-provider and with this
 * machine's own limits, in one run, on 127.0.0.1 only (see BENCHMARKS.md).
 *
 * Order: machine ceilings (bare Bun.serve / node:http with wrk, pgbench INSERT / SELECT) →
 * Gatehouse (opaque tokens: W1 W3 W4 W5 W6 W7 W8, then the long run) → Gatehouse with JWT
 * access tokens (W2) → oidc-provider on PostgreSQL → oidc-provider with its memory adapter.
 * Servers run one at a time; every process is started in its own process group and stopped,
 * and every database created is dropped, also on failure, Ctrl-C or the overall time limit.
 *
 * Options:
 *   --quick             a few seconds per workload, no long run (CI smoke test; results under .bench/)
 *   --only W1,W3,C1     only these workloads / ceilings
 *   --targets list      of gatehouse, peer-pg, peer-memory, ceilings (default: all)
 *   --no-long           skip the long run and the driver probe
 *   --long-seconds S    length of the long run (default 180, read in 30 s windows)
 *   --no-analyze        do not ANALYZE the server's database after each warm-up (see analyzeAfterWarmup)
 *   --duration S        seconds per measured run (default 15 after a 3 s warm-up; quick: 1, no warm-up)
 *   --out DIR           where raw output goes (default bench/results/<timestamp>)
 *   --write-docs        put this run's tables into BENCHMARKS.md (between its markers)
 */
import postgres from "postgres";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import type { FlowsConfig, FlowsResult } from "./load/flows.ts";
import {
  appScope,
  ensureBinary,
  gatehouseVersion,
  migrate,
  redirectUri,
  repoRoot,
  scrapeMetrics,
  seedGatehouse,
  startGatehouse,
  type BenchClient,
  type GatehouseServer,
} from "./lib/gatehouse.ts";
import { machineInfo } from "./lib/machine.ts";
import { ensurePeerInstalled, nodeVersion, peerVersion, startPeer, writePeerClients, writePeerKey } from "./lib/peer.ts";
import { assertLoopback, adminDsn, createDatabase, dropDatabase, dropStaleDatabases, pgbenchScripts, postgresVersion, preparePgbench, runPgbench } from "./lib/pg.ts";
import { freePort, peakRssKiB, runCommand, spawnManaged, stopAll, stopManaged, waitReady, killAllNow, type Managed } from "./lib/processes.ts";
import { ceilingTitles, goals, goalsTable, measurementsTable, ratiosTable, serversTable, windowsTable, workloads, type Skipped } from "./lib/report.ts";
import type { LongRunWindow, Measurement, Row, ServerStats, TargetId } from "./lib/types.ts";
import { ensureWrk, runWrk, type WrkSpec } from "./lib/wrk.ts";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    targets: { type: "string" },
    "no-long": { type: "boolean", default: false },
    duration: { type: "string" },
    "long-seconds": { type: "string" },
    "no-analyze": { type: "boolean", default: false },
    out: { type: "string" },
    "write-docs": { type: "boolean", default: false },
  },
  allowPositionals: false,
});

const quick = args.quick;
const settings = {
  /** Measured seconds per single-request workload, and its discarded warm-up. */
  durationS: Number(args.duration ?? (quick ? 1 : 15)),
  warmupS: quick ? 0 : 3,
  /** wrk -t1 -c32; the flow generator runs 32 virtual users. */
  connections: 32,
  pgbenchClients: 10,
  pgbenchWarmupS: quick ? 0 : 15,
  /** Tokens introspected at random in W3; bounded by oidc-provider's memory adapter (an LRU of 1,000 entries). */
  introspectionTokens: quick ? 64 : 256,
  userinfoTokens: quick ? 8 : 32,
  long: !quick && !args["no-long"],
  longTotalS: Number(args["long-seconds"] ?? 180),
  longWindowS: 30,
  probeWindows: 6,
  probeWindowMs: 10_000,
  /** --quick: a flow workload's 1 s window stays open until this many operations are in (at most 60 s more). */
  flowMinOps: quick ? 4 : 0,
  flowOverrunMs: 60_000,
  /** Hard limit on the whole run; cleanup still happens. ~1 min in quick mode on an idle machine. */
  limitMs: quick ? 6 * 60_000 : 75 * 60_000,
};
const only = args.only ? new Set(args.only.split(",").map((s) => s.trim())) : undefined;
const targets = new Set((args.targets ?? "ceilings,gatehouse,peer-pg,peer-memory").split(",").map((s) => s.trim()));
const selected = (id: string) => !only || only.has(id);

const stamp = new Date().toISOString().replace(/[:.]/g, "-").replace(/-\d{3}Z$/, "Z");
const outDir = args.out ?? join(repoRoot, quick ? ".bench/results" : "bench/results", `${stamp}${quick ? "-quick" : ""}`);
const rawDir = join(outDir, "raw");
mkdirSync(rawDir, { recursive: true });
/** Keys, client secrets and token lists: never under bench/results/, removed at the end. */
const privateDir = mkdtempSync(join(tmpdir(), "ghbench-"));

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
const rows: Row[] = [];
const skipped: Skipped[] = [];
const servers: ServerStats[] = [];
const failures: string[] = [];
const databases: string[] = [];
let windows: LongRunWindow[] = [];
let longOverall: Measurement | undefined;
let probe: { windows: number[]; total: number; errors: number } | undefined;

/** A workload this build does not implement (404 route, unsupported grant): reported, not an error. */
class NotAvailable extends Error {}

const secrets = new Map<string, string>();
const secretOf = (id: string) => {
  let s = secrets.get(id);
  if (!s) secrets.set(id, (s = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url")));
  return s;
};
const basic = (c: BenchClient) => `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.secret)}`).toString("base64")}`;

// ---------------------------------------------------------------------------------------------
// Cleanup: on normal end, failure, Ctrl-C, SIGTERM and the overall limit.

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    await stopAll();
    for (const name of databases) await dropDatabase(name).catch((err) => log(`could not drop database ${name}: ${(err as Error).message}`));
    rmSync(privateDir, { recursive: true, force: true });
  })());
}
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping everything this run started`);
    void cleanup().finally(() => process.exit(code));
  });
}
process.on("exit", killAllNow);
const limitTimer = setTimeout(() => {
  log(`overall time limit of ${settings.limitMs / 60_000} min reached: stopping`);
  void cleanup().finally(() => process.exit(2));
}, settings.limitMs);

// ---------------------------------------------------------------------------------------------
// Measuring helpers.

let wrkPath = "wrk";

function saveRaw(name: string, text: string) {
  writeFileSync(join(rawDir, `${name}.txt`), text);
}

/**
 * The database of the PostgreSQL-backed server under test (Gatehouse or the peer), ANALYZEd
 * after each workload's warm-up. In production autovacuum analyzes a table within about a
 * minute of it filling; here each workload lasts seconds on tables created minutes before,
 * so without it both servers run on statistics (and cached generic plans) of nearly empty
 * tables. Seen: W5 joined the refresh-token table by a sequential scan. Analyzing before the
 * warm-up is not enough: stats of a near-empty table make the plans of its growth worse.
 * Same treatment for both servers; --no-analyze turns it off.
 */
let analyzeDsn: string | undefined;

async function analyzeAfterWarmup(): Promise<void> {
  if (!analyzeDsn || args["no-analyze"]) return;
  const sql = postgres(analyzeDsn, { max: 1, onnotice: () => {} });
  try {
    await sql`analyze`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function record(workload: string, target: TargetId, label: string, run: () => Promise<Measurement>): Promise<void> {
  if (!selected(workload)) return;
  const name = `${target}-${workload}`;
  try {
    const m = await run();
    rows.push({ ...m, workload, target, label });
    saveRaw(name, m.raw);
    log(`${workload.padEnd(4)} ${label}: ${Math.round(m.rps)} ops/s, p50 ${m.p50Ms.toFixed(2)} ms, p99 ${m.p99Ms.toFixed(2)} ms, errors ${m.errors}`);
  } catch (err) {
    if (err instanceof NotAvailable) {
      skipped.push({ workload, target, reason: err.message });
      log(`${workload.padEnd(4)} ${label}: not run (${err.message})`);
    } else {
      const message = err instanceof Error ? err.message : String(err);
      failures.push(`${workload} ${label}: ${message}`);
      saveRaw(name, `FAILED\n${err instanceof Error ? (err.stack ?? message) : message}`);
      log(`${workload.padEnd(4)} ${label}: FAILED: ${message.slice(0, 500)}`);
    }
  }
}

/** Warm-up run (discarded), then the measured run, both with wrk. */
async function wrkMeasure(spec: Omit<WrkSpec, "durationS" | "connections">, name: string): Promise<Measurement> {
  const full = { ...spec, connections: settings.connections };
  const tokensFile = join(privateDir, `${name}.tokens`);
  if (settings.warmupS > 0) await runWrk(wrkPath, { ...full, durationS: settings.warmupS }, tokensFile);
  await analyzeAfterWarmup();
  const m = await runWrk(wrkPath, { ...full, durationS: settings.durationS }, tokensFile);
  return { ...m, note: `wrk -t1 -c${settings.connections} -d${settings.durationS}s` };
}

/** One request checked for meaning, not only status, before the load runs. */
async function preflight(url: string, init: RequestInit, check: (status: number, body: any) => string | undefined): Promise<any> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON; the check decides
  }
  if (res.status === 404) throw new NotAvailable(`${new URL(url).pathname} answers 404 in this build`);
  if (body?.error === "unsupported_grant_type") throw new NotAvailable(`${body.error_description ?? body.error} (${body.error_hint ?? ""})`.trim());
  const problem = check(res.status, body);
  if (problem) throw new Error(`preflight ${url}: ${problem}; got ${res.status} ${text.slice(0, 300)}`);
  return body;
}

const form = (fields: Record<string, string>): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(fields).toString(),
});

/** Issues `n` client_credentials tokens (8 at a time) for the introspection workload. */
async function mintClientCredentials(tokenUrl: string, client: BenchClient, n: number, extra: Record<string, string> = {}): Promise<string[]> {
  const tokens: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        next++;
        const init = form({ grant_type: "client_credentials", scope: "read", ...extra });
        const res = await fetch(tokenUrl, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: basic(client) }, signal: AbortSignal.timeout(15_000) });
        const body = (await res.json()) as { access_token?: string };
        if (res.status !== 200 || !body.access_token) throw new Error(`minting a token: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
        tokens.push(body.access_token);
      }
    }),
  );
  return tokens;
}

/** Runs bench/load/flows.ts in its own process. */
async function runFlowsProcess(cfg: FlowsConfig): Promise<{ result: FlowsResult; raw: string }> {
  const cmd = [process.execPath, join(import.meta.dir, "load", "flows.ts"), JSON.stringify(cfg)];
  const out = await runCommand(cmd, { cwd: repoRoot, timeoutMs: cfg.warmupMs + cfg.durationMs + 120_000 });
  const last = out.stdout.trim().split("\n").pop() ?? "";
  if (out.code !== 0 || !last.startsWith("{")) throw new Error(`flow generator failed (${out.timedOut ? "timed out" : `exit ${out.code}`}):\n${out.stdout.slice(0, 2000)}${out.stderr.slice(0, 2000)}`);
  const result = JSON.parse(last) as FlowsResult;
  const shown = { ...result, tokens: result.tokens ? `${result.tokens.length} token sets` : undefined };
  return { result, raw: `$ bun bench/load/flows.ts '${JSON.stringify({ ...cfg, clientSecret: "***" })}'\n${JSON.stringify(shown, null, 2)}\n${out.stderr}` };
}

interface FlowTarget {
  target: "gatehouse" | "peer";
  publicUrl: string;
  adminUrl?: string;
  app: BenchClient;
}

function flowConfig(t: FlowTarget, mode: FlowsConfig["mode"], extra: Partial<FlowsConfig> = {}): FlowsConfig {
  return {
    target: t.target,
    mode,
    publicUrl: t.publicUrl,
    adminUrl: t.adminUrl,
    clientId: t.app.clientId,
    clientSecret: t.app.secret,
    redirectUri,
    scope: appScope,
    concurrency: settings.connections,
    warmupMs: settings.warmupS * 1000,
    durationMs: settings.durationS * 1000,
    minOps: settings.flowMinOps,
    overrunMs: settings.flowOverrunMs,
    ...extra,
  };
}

/** A few complete flows, to know the flow works (and to get tokens) before measuring. */
async function mintFlows(t: FlowTarget, count: number): Promise<{ access_token: string; refresh_token?: string }[]> {
  const { result } = await runFlowsProcess(flowConfig(t, "mint", { count, concurrency: Math.min(8, count), durationMs: 60_000, warmupMs: 0 }));
  if (result.errors > 0 || !result.tokens || result.tokens.length < count) {
    const sample = result.errorSamples.join(" | ");
    if (/unsupported_grant_type|HTTP 404/.test(sample)) throw new NotAvailable(`the flow fails: ${sample.slice(0, 300)}`);
    throw new Error(`minting ${count} flows: ${result.errors} errors: ${sample}`);
  }
  return result.tokens;
}

async function flowMeasure(t: FlowTarget, mode: "flow" | "refresh"): Promise<Measurement> {
  const tokens = await mintFlows(t, 1);
  if (mode === "refresh") {
    if (!tokens[0]!.refresh_token) throw new Error("the flow issued no refresh token");
    const tokenUrl = t.target === "gatehouse" ? `${t.publicUrl}/oauth2/token` : `${t.publicUrl}/token`;
    const init = form({ grant_type: "refresh_token", refresh_token: tokens[0]!.refresh_token });
    await preflight(tokenUrl, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: basic(t.app) } }, (s, b) =>
      s === 200 && typeof b?.refresh_token === "string" && b.refresh_token !== tokens[0]!.refresh_token ? undefined : "expected a rotated refresh token",
    );
  }
  // A separate warm-up run fills the tables before they are analyzed (the measured run then has its own).
  if (settings.warmupS > 0) await runFlowsProcess(flowConfig(t, mode, { warmupMs: 0, durationMs: settings.warmupS * 1000 }));
  await analyzeAfterWarmup();
  const { result, raw } = await runFlowsProcess(flowConfig(t, mode));
  return {
    rps: result.opsPerS,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    errors: result.errors,
    requests: result.ops,
    durationS: result.durationS,
    raw,
    note: mode === "flow" ? `${result.httpRequests} HTTP requests in the window; p50/p99 per complete flow` : "each virtual user rotates its own chain",
  };
}

// ---------------------------------------------------------------------------------------------
// Targets.

async function runCeilings(): Promise<void> {
  for (const [id, label, cmd] of [
    ["C1", "Bun.serve", [process.execPath, join(import.meta.dir, "ceilings", "hello-bun.ts")]],
    ["C2", "node:http", ["node", join(import.meta.dir, "ceilings", "hello-node.mjs")]],
  ] as const) {
    if (!selected(id)) continue;
    const port = await freePort();
    const server = spawnManaged(label, [...cmd], { env: { PATH: process.env.PATH, PORT: String(port), NODE_ENV: "production" }, logFile: join(outDir, `ceiling-${id}.log`) });
    try {
      await waitReady(server, `http://127.0.0.1:${port}/`);
      await record(id, "ceiling", label, () => wrkMeasure({ url: `http://127.0.0.1:${port}/`, method: "GET" }, `ceiling-${id}`));
    } finally {
      await stopManaged(server);
    }
  }
  if (!selected("C3") && !selected("C4")) return;
  const db = await createDatabase("pgbench");
  databases.push(db.name);
  await preparePgbench(db.dsn);
  for (const [id, script] of [["C3", pgbenchScripts.insert], ["C4", pgbenchScripts.select]] as const) {
    await record(id, "ceiling", "pgbench", async () => {
      // Discarded warm-up: a fresh table and a WAL that is still growing (new segments, not yet
      // recycled) make the first seconds of INSERTs much slower than the steady state.
      if (settings.pgbenchWarmupS > 0) await runPgbench(db.dsn, script, settings.pgbenchClients, settings.pgbenchWarmupS);
      const m = await runPgbench(db.dsn, script, settings.pgbenchClients, settings.durationS);
      return { ...m, note: `${m.note}; after a ${settings.pgbenchWarmupS} s warm-up` };
    });
  }
}

function serverStats(label: string, m: Managed, startupMs: number, note?: string) {
  servers.push({ label, startupMs, peakRssKiB: peakRssKiB(m.pid), note });
}

async function runGatehouse(version: string): Promise<void> {
  const label = `Gatehouse ${version}`;
  const db = await createDatabase("gatehouse");
  databases.push(db.name);
  await migrate(db.dsn);
  analyzeDsn = db.dsn;
  const secret = secretOf("secrets.system");

  const needOpaque = ["W1", "W3", "W4", "W5", "W6a", "W6b", "W7", "W8a", "W8b"].some(selected) || settings.long;
  let clients: Awaited<ReturnType<typeof seedGatehouse>> | undefined;
  if (needOpaque) {
    const g = await startGatehouse({ dsn: db.dsn, accessTokens: "opaque", secret, logFile: join(outDir, "gatehouse-opaque.log") });
    try {
      clients = await seedGatehouse(g.adminUrl, secretOf);
      await gatehouseOpaqueWorkloads(g, label, clients);
      if (settings.long) await gatehouseLongRun(g, clients.machine, db.dsn);
      serverStats(`${label} (opaque)`, g.managed, g.startupMs, "first start: creates its RS256-2048 signing keys");
    } finally {
      await stopManaged(g.managed);
    }
  }
  if (selected("W2")) {
    const g = await startGatehouse({ dsn: db.dsn, accessTokens: "jwt", secret, logFile: join(outDir, "gatehouse-jwt.log") });
    try {
      clients ??= await seedGatehouse(g.adminUrl, secretOf);
      const machine = clients.machine;
      const url = `${g.publicUrl}/oauth2/token`;
      await record("W2", "gatehouse", label, async () => {
        await preflight(url, { ...form({ grant_type: "client_credentials", scope: "read" }), headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: basic(machine) } }, (s, b) =>
          s === 200 && typeof b?.access_token === "string" && b.access_token.split(".").length === 3 ? undefined : "expected a JWT access token",
        );
        return wrkMeasure({ url, method: "POST", body: "grant_type=client_credentials&scope=read", headers: [`Authorization: ${basic(machine)}`] }, "gatehouse-W2");
      });
      serverStats(`${label} (JWT access tokens)`, g.managed, g.startupMs, "restart on the same database (keys exist)");
    } finally {
      await stopManaged(g.managed);
    }
  }
}

async function gatehouseOpaqueWorkloads(g: GatehouseServer, label: string, clients: { machine: BenchClient; app: BenchClient; total: number }) {
  const { machine, app } = clients;
  const tokenUrl = `${g.publicUrl}/oauth2/token`;
  const machineAuth = `Authorization: ${basic(machine)}`;

  await record("W1", "gatehouse", label, async () => {
    await preflight(tokenUrl, { ...form({ grant_type: "client_credentials", scope: "read" }), headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: basic(machine) } }, (s, b) =>
      s === 200 && typeof b?.access_token === "string" && b.access_token.split(".").length !== 3 ? undefined : "expected an opaque access token",
    );
    return wrkMeasure({ url: tokenUrl, method: "POST", body: "grant_type=client_credentials&scope=read", headers: [machineAuth] }, "gatehouse-W1");
  });

  await record("W3", "gatehouse", label, async () => {
    const tokens = await mintClientCredentials(tokenUrl, machine, settings.introspectionTokens);
    const url = `${g.adminUrl}/oauth2/introspect`;
    for (const token of tokens) await preflight(url, form({ token }), (s, b) => (s === 200 && b?.active === true ? undefined : "expected active: true"));
    return wrkMeasure({ url, method: "POST", body: "token={{token}}", tokens }, "gatehouse-W3");
  });

  const flows: FlowTarget = { target: "gatehouse", publicUrl: g.publicUrl, adminUrl: g.adminUrl, app };
  await record("W4", "gatehouse", label, () => flowMeasure(flows, "flow"));
  await record("W5", "gatehouse", label, () => flowMeasure(flows, "refresh"));

  for (const [id, path] of [["W6a", "/.well-known/openid-configuration"], ["W6b", "/.well-known/jwks.json"]] as const) {
    await record(id, "gatehouse", label, async () => {
      await preflight(`${g.publicUrl}${path}`, {}, (s, b) => (s === 200 && typeof b === "object" ? undefined : "expected a JSON document"));
      return wrkMeasure({ url: `${g.publicUrl}${path}`, method: "GET" }, `gatehouse-${id}`);
    });
  }

  await record("W7", "gatehouse", label, async () => {
    // /userinfo first: no point minting tokens for a route this build lacks.
    await preflight(`${g.publicUrl}/userinfo`, { headers: { Authorization: "Bearer probe" } }, (s) => (s === 401 || s === 403 ? undefined : "expected 401 for a bad token"));
    const tokens = (await mintFlows(flows, settings.userinfoTokens)).map((t) => t.access_token);
    await preflight(`${g.publicUrl}/userinfo`, { headers: { Authorization: `Bearer ${tokens[0]}` } }, (s, b) => (s === 200 && b?.sub ? undefined : "expected claims with sub"));
    return wrkMeasure({ url: `${g.publicUrl}/userinfo`, method: "GET", tokens, headers: ["Authorization: Bearer {{token}}"] }, "gatehouse-W7");
  });

  await record("W8a", "gatehouse", label, async () => {
    const url = `${g.adminUrl}/clients/${app.clientId}`;
    await preflight(url, {}, (s, b) => (s === 200 && b?.client_id === app.clientId ? undefined : "expected the client"));
    return wrkMeasure({ url, method: "GET" }, "gatehouse-W8a");
  });
  await record("W8b", "gatehouse", label, async () => {
    const url = `${g.adminUrl}/clients`;
    await preflight(url, {}, (s, b) => (s === 200 && Array.isArray(b) && b.length === clients.total ? undefined : `expected ${clients.total} clients`));
    const m = await wrkMeasure({ url, method: "GET" }, "gatehouse-W8b");
    return { ...m, note: `${m.note}; a page of ${clients.total} clients` };
  });
}

/** Parses Gatehouse's Prometheus text for one route: answered (by status) and the latency histogram of 200s. */
function routeSeries(text: string, route: string): { ok: number; other: number; buckets: Map<number, number> } {
  let ok = 0;
  let other = 0;
  const buckets = new Map<number, number>();
  const needle = `route="${route}"`;
  for (const line of text.split("\n")) {
    if (!line.includes(needle)) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (line.startsWith("gatehouse_http_requests_total{")) {
      if (line.includes('status="200"')) ok += value;
      else other += value;
    } else if (line.startsWith("gatehouse_http_request_duration_seconds_bucket{") && line.includes('status="200"')) {
      const le = /le="([^"]+)"/.exec(line)![1]!;
      const bound = le === "+Inf" ? Infinity : Number(le);
      buckets.set(bound, (buckets.get(bound) ?? 0) + value);
    }
  }
  return { ok, other, buckets };
}

function bucketPercentileMs(buckets: Map<number, number>, total: number, p: number): number {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  for (const b of bounds) if (buckets.get(b)! >= (p / 100) * total) return b * 1000;
  return NaN;
}

/**
 * W1 for minutes without a pause (porsager/postgres#747: does the driver's queue slow the
 * longer the pool stays busy?). One wrk run; the server's own counters are read every window.
 */
async function gatehouseLongRun(g: GatehouseServer, machine: BenchClient, dsn: string) {
  const url = `${g.publicUrl}/oauth2/token`;
  // What PostgreSQL does meanwhile, to explain a trend: checkpoints, WAL written, the token table's size.
  const stats = postgres(dsn, { max: 1, onnotice: () => {} });
  const dbState = async () => {
    const [r] = await stats`select (select checkpoints_timed + checkpoints_req from pg_stat_bgwriter)::int as checkpoints,
      (pg_current_wal_lsn() - '0/0'::pg_lsn)::float8 as wal, pg_total_relation_size('oauth2_access_tokens')::float8 as size`;
    return r as unknown as { checkpoints: number; wal: number; size: number };
  };
  const states: Awaited<ReturnType<typeof dbState>>[] = [];
  log(`long run: W1 for ${settings.longTotalS} s, read in ${settings.longWindowS} s windows`);
  const scrapes: { t: number; text: string }[] = [];
  const running = runWrk(
    wrkPath,
    { url, method: "POST", body: "grant_type=client_credentials&scope=read", headers: [`Authorization: ${basic(machine)}`], connections: settings.connections, durationS: settings.longTotalS + 2 },
    join(privateDir, "long.tokens"),
  );
  await Bun.sleep(500);
  const t0 = performance.now();
  scrapes.push({ t: 0, text: await scrapeMetrics(g.adminUrl) });
  states.push(await dbState());
  const n = Math.floor(settings.longTotalS / settings.longWindowS);
  for (let i = 1; i <= n; i++) {
    await Bun.sleep(Math.max(0, t0 + i * settings.longWindowS * 1000 - performance.now()));
    scrapes.push({ t: (performance.now() - t0) / 1000, text: await scrapeMetrics(g.adminUrl) });
    states.push(await dbState());
  }
  longOverall = await running;
  await stats.end({ timeout: 5 });
  saveRaw("gatehouse-long-W1", `${longOverall.raw}\n\n${scrapes.map((s) => `# scrape at ${s.t.toFixed(2)} s\n${s.text.split("\n").filter((l) => l.includes('route="/oauth2/token"')).join("\n")}`).join("\n\n")}`);
  windows = [];
  for (let i = 1; i < scrapes.length; i++) {
    const a = routeSeries(scrapes[i - 1]!.text, "/oauth2/token");
    const b = routeSeries(scrapes[i]!.text, "/oauth2/token");
    const seconds = scrapes[i]!.t - scrapes[i - 1]!.t;
    const ok = b.ok - a.ok;
    const delta = new Map([...b.buckets].map(([k, v]) => [k, v - (a.buckets.get(k) ?? 0)]));
    windows.push({
      fromS: (i - 1) * settings.longWindowS,
      toS: i * settings.longWindowS,
      rps: ok / seconds,
      p50Ms: bucketPercentileMs(delta, ok, 50),
      p99Ms: bucketPercentileMs(delta, ok, 99),
      errors: b.other - a.other,
      checkpoints: states[i]!.checkpoints - states[i - 1]!.checkpoints,
      walMiB: (states[i]!.wal - states[i - 1]!.wal) / 2 ** 20,
      tableMiB: states[i]!.size / 2 ** 20,
    });
  }
  for (const w of windows) log(`  ${w.fromS}-${w.toS} s: ${Math.round(w.rps)} tokens/s, p50 ≤ ${w.p50Ms} ms, p99 ≤ ${w.p99Ms} ms, errors ${w.errors}, checkpoints ${w.checkpoints}, WAL ${Math.round(w.walMiB ?? 0)} MiB, token table ${Math.round(w.tableMiB ?? 0)} MiB`);
  if (longOverall.errors > 0) failures.push(`long run: ${longOverall.errors} errors`);

  // The driver alone, same pool size, no HTTP: does `select 1` slow down over a minute?
  const probeDb = await createDatabase("probe");
  databases.push(probeDb.name);
  const cfg = { dsn: probeDb.dsn, callers: 32, windows: settings.probeWindows, windowMs: settings.probeWindowMs };
  const out = await runCommand([process.execPath, join(import.meta.dir, "load", "pg-queue.ts"), JSON.stringify(cfg)], { cwd: repoRoot, timeoutMs: settings.probeWindows * settings.probeWindowMs + 60_000 });
  const last = out.stdout.trim().split("\n").pop() ?? "";
  if (out.code === 0 && last.startsWith("{")) {
    probe = JSON.parse(last);
    log(`  driver probe (select 1, 32 callers, pool 10): ${probe!.windows.map((r) => Math.round(r)).join(", ")} queries/s per ${settings.probeWindowMs / 1000} s`);
  } else {
    failures.push(`driver probe failed: ${out.stderr.slice(0, 500)}`);
  }
  saveRaw("driver-probe", `${out.stdout}\n${out.stderr}`);
}

async function runPeer(storage: "postgres" | "memory", version: string): Promise<void> {
  const target: TargetId = storage === "postgres" ? "peer-pg" : "peer-memory";
  const label = `oidc-provider ${version} (${storage === "postgres" ? "PostgreSQL" : "memory"})`;
  const jwkPath = join(privateDir, "peer-key.json");
  const clientsPath = join(privateDir, "peer-clients.json");
  await writePeerKey(jwkPath);
  writePeerClients(clientsPath, secretOf);
  let dsn: string | undefined;
  if (storage === "postgres") {
    const db = await createDatabase("peer");
    databases.push(db.name);
    dsn = db.dsn;
  }
  const p = await startPeer({ storage, dsn, jwkPath, clientsPath, logFile: join(outDir, `${target}.log`) });
  analyzeDsn = dsn;
  try {
    const machine: BenchClient = { clientId: "bench-machine", secret: secretOf("bench-machine") };
    const app: BenchClient = { clientId: "bench-app", secret: secretOf("bench-app") };
    const tokenUrl = `${p.url}/token`;
    const auth = { "Content-Type": "application/x-www-form-urlencoded", Authorization: basic(machine) };

    await record("W1", target, label, async () => {
      await preflight(tokenUrl, { ...form({ grant_type: "client_credentials", scope: "read" }), headers: auth }, (s, b) =>
        s === 200 && typeof b?.access_token === "string" && b.access_token.split(".").length !== 3 ? undefined : "expected an opaque access token",
      );
      return wrkMeasure({ url: tokenUrl, method: "POST", body: "grant_type=client_credentials&scope=read", headers: [`Authorization: ${basic(machine)}`] }, `${target}-W1`);
    });
    await record("W2", target, label, async () => {
      const body = "grant_type=client_credentials&scope=read&resource=urn%3Abench%3Ajwt";
      await preflight(tokenUrl, { method: "POST", body, headers: auth }, (s, b) =>
        s === 200 && typeof b?.access_token === "string" && b.access_token.split(".").length === 3 ? undefined : "expected a JWT access token",
      );
      const m = await wrkMeasure({ url: tokenUrl, method: "POST", body, headers: [`Authorization: ${basic(machine)}`] }, `${target}-W2`);
      return { ...m, note: `${m.note}; JWT access tokens need a resource indicator here` };
    });
    await record("W3", target, label, async () => {
      const tokens = await mintClientCredentials(tokenUrl, machine, settings.introspectionTokens);
      const url = `${p.url}/token/introspection`;
      for (const token of tokens) await preflight(url, { ...form({ token }), headers: auth }, (s, b) => (s === 200 && b?.active === true ? undefined : "expected active: true"));
      const m = await wrkMeasure({ url, method: "POST", body: "token={{token}}", tokens, headers: [`Authorization: ${basic(machine)}`] }, `${target}-W3`);
      return { ...m, note: `${m.note}; RFC 7662 client authentication on every call (Gatehouse's admin endpoint has none, as Hydra v1)` };
    });
    const flows: FlowTarget = { target: "peer", publicUrl: p.url, app };
    await record("W4", target, label, () => flowMeasure(flows, "flow"));
    await record("W5", target, label, () => flowMeasure(flows, "refresh"));
    for (const [id, path] of [["W6a", "/.well-known/openid-configuration"], ["W6b", "/jwks"]] as const) {
      await record(id, target, label, async () => {
        await preflight(`${p.url}${path}`, {}, (s, b) => (s === 200 && typeof b === "object" ? undefined : "expected a JSON document"));
        return wrkMeasure({ url: `${p.url}${path}`, method: "GET" }, `${target}-${id}`);
      });
    }
    await record("W7", target, label, async () => {
      const tokens = (await mintFlows(flows, settings.userinfoTokens)).map((t) => t.access_token);
      await preflight(`${p.url}/me`, { headers: { Authorization: `Bearer ${tokens[0]}` } }, (s, b) => (s === 200 && b?.sub ? undefined : "expected claims with sub"));
      return wrkMeasure({ url: `${p.url}/me`, method: "GET", tokens, headers: ["Authorization: Bearer {{token}}"] }, `${target}-W7`);
    });
    serverStats(label, p.managed, p.startupMs, storage === "memory" ? "LRU of 1,000 entries (oidc-provider's default adapter)" : undefined);
  } finally {
    await stopManaged(p.managed);
  }
}

// ---------------------------------------------------------------------------------------------
// Report.

function report(machine: Awaited<ReturnType<typeof machineInfo>>): string {
  const goalList = goals(rows, servers);
  const parts = [
    `Run ${stamp}${quick ? " (--quick: numbers not judged)" : ""} — ${machine.nproc} CPU (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.kernel}`,
    `Versions: ${Object.entries(machine.versions).map(([k, v]) => `${k} ${v}`).join("; ")}`,
    `Load: wrk -t1 -c${settings.connections}, ${settings.durationS} s measured after ${settings.warmupS} s warm-up; flows: ${settings.connections} virtual users (bench/load/flows.ts); pgbench -c ${settings.pgbenchClients} -j 1 -M prepared. Everything on 127.0.0.1, sharing the same ${machine.nproc} CPUs.`,
    "",
    "### Gatehouse / oidc-provider / ceiling",
    "",
    ratiosTable(rows),
    "",
    "### Targets (issue 8)",
    "",
    goalsTable(goalList),
    "",
    "### Every measurement",
    "",
    measurementsTable(rows, skipped),
    "",
    "### Servers",
    "",
    serversTable(servers),
  ];
  if (windows.length > 0) {
    parts.push("", `### Long run: W1 for ${settings.longTotalS} s without a pause (Gatehouse, opaque)`, "", windowsTable(windows, "tokens/s"));
    if (longOverall) parts.push("", `Whole run (wrk): ${Math.round(longOverall.rps)} tokens/s, p50 ${longOverall.p50Ms.toFixed(2)} ms, p99 ${longOverall.p99Ms.toFixed(2)} ms, ${longOverall.errors} errors, ${longOverall.requests} requests.`);
  }
  if (probe) {
    parts.push(
      "",
      `Driver probe (postgres.js ${postgresJsVersion()} under Bun, pool 10, 32 callers, \`select 1\`, ${probe.total.toLocaleString("en-US")} queries): ${probe.windows.map((r) => Math.round(r).toLocaleString("en-US")).join(" → ")} queries/s per ${settings.probeWindowMs / 1000} s window; ${probe.errors} errors.`,
    );
  }
  if (skipped.length > 0) parts.push("", "Not run: " + skipped.map((s) => `${s.workload}/${s.target} (${s.reason})`).join("; "));
  if (failures.length > 0) parts.push("", "FAILURES:", ...failures.map((f) => `- ${f}`));
  return parts.join("\n");
}

function postgresJsVersion(): string {
  return (JSON.parse(readFileSync(join(repoRoot, "node_modules", "postgres", "package.json"), "utf8")) as { version: string }).version;
}

function writeDocs(table: string) {
  const path = join(repoRoot, "BENCHMARKS.md");
  const start = "<!-- bench:results:start -->";
  const end = "<!-- bench:results:end -->";
  const doc = readFileSync(path, "utf8");
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`BENCHMARKS.md has no ${start} … ${end} section`);
  const rel = relative(repoRoot, outDir);
  writeFileSync(path, `${doc.slice(0, i + start.length)}\n\nRaw output: \`${rel}/\`.\n\n${table}\n\n${doc.slice(j)}`);
  log(`BENCHMARKS.md updated`);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  assertLoopback(adminDsn);
  const started = performance.now();
  const stale = await dropStaleDatabases();
  if (stale.length) log(`dropped databases left by killed runs: ${stale.join(", ")}`);
  wrkPath = await ensureWrk(log);
  if (targets.has("gatehouse")) await ensureBinary(log);
  if (targets.has("peer-pg") || targets.has("peer-memory")) await ensurePeerInstalled(log);

  const versions: Record<string, string> = { postgresql: await postgresVersion(), "postgres.js": postgresJsVersion() };
  let gVersion = "";
  if (targets.has("gatehouse")) versions.gatehouse = gVersion = await gatehouseVersion();
  let pVersion = "";
  if (targets.has("peer-pg") || targets.has("peer-memory")) {
    versions["oidc-provider"] = pVersion = peerVersion();
    versions.node = await nodeVersion();
  }
  const machine = await machineInfo(versions);
  writeFileSync(join(outDir, "machine.json"), `${JSON.stringify(machine, null, 2)}\n`);
  log(`results in ${relative(repoRoot, outDir)}/ — ${machine.nproc} CPU ${machine.cpuModel}`);

  const gLabel = (/Version:\s*(\S+)/.exec(gVersion)?.[1] ?? "").trim();
  if (targets.has("ceilings")) await runCeilings();
  if (targets.has("gatehouse")) await runGatehouse(gLabel);
  if (targets.has("peer-pg")) await runPeer("postgres", pVersion);
  if (targets.has("peer-memory")) await runPeer("memory", pVersion);

  const table = report(machine);
  writeFileSync(join(outDir, "table.md"), `${table}\n`);
  writeFileSync(
    join(outDir, "results.json"),
    `${JSON.stringify({ stamp, quick, settings, machine, rows: rows.map(({ raw: _raw, ...r }) => r), skipped, servers, longRun: { windows, overall: longOverall && { ...longOverall, raw: undefined } }, probe, failures }, null, 2)}\n`,
  );
  process.stdout.write(`\n${table}\n\n`);
  if (args["write-docs"]) writeDocs(table);
  const errors = rows.reduce((n, r) => n + r.errors, 0);
  log(`done in ${Math.round((performance.now() - started) / 1000)} s: ${rows.length} measurements, ${errors} errors, ${failures.length} failures, ${skipped.length} not run`);
  return errors === 0 && failures.length === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  code = 1;
} finally {
  clearTimeout(limitTimer);
  await cleanup();
}
process.exit(code);
