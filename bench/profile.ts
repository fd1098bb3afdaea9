/**
 * @module `bun bench/profile.ts W1 [seconds]`: one workload against Gatehouse run from the
 * sources under `bun --cpu-prof --cpu-prof-md`, to see where the time goes. Same settings
 * and load generator as bench/run.ts; the profile (.cpuprofile and a Markdown summary) is
 * written to .bench/profiles/. Loopback only; stops everything and drops its database.
 *
 * BENCH_NO_PROFILE=1 runs the same without the profiler (A/B numbers); BENCH_GATEHOUSE_MAIN=path
 * runs another checkout's src/main.ts; BENCH_PREFILL_TOKENS=N first inserts N access-token rows (a long run's
 * leftovers, random keys). Every workload also prints the PostgreSQL backends' CPU per op.
 *
 * Workloads: W1 (client_credentials, opaque), W2 (JWT), W3 (introspection), W4 (complete code
 * flows, bench/load/flows.ts), W5 (refresh rotation), W6a, W6b, W8a, W8b.
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FlowsConfig, FlowsResult } from "./load/flows.ts";
import { appScope, migrate, redirectUri, repoRoot, seedGatehouse, startGatehouse } from "./lib/gatehouse.ts";
import postgres from "postgres";
import { createDatabase, dropDatabase } from "./lib/pg.ts";
import { killAllNow, runCommand, stopAll, stopManaged } from "./lib/processes.ts";
import { ensureWrk, runWrk } from "./lib/wrk.ts";

const workload = process.argv[2] ?? "W1";

/** CPU seconds (user + system) a process has used so far; per operation it stays comparable on a shared CPU. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const perOp = (cpu: number, ops: number) => `server CPU ${((cpu * 1000) / Math.max(1, ops)).toFixed(3)} ms/op`;

/** CPU seconds of the PostgreSQL backends serving one database (their titles name it). */
function backendCpuSeconds(database: string): number {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(` ${database} `)) total += cpuSeconds(Number(pid));
    } catch {
      // gone
    }
  }
  return total;
}
const seconds = Number(process.argv[3] ?? 10);
const dir = join(repoRoot, ".bench", "profiles", `${workload}-${new Date().toISOString().replace(/[:.]/g, "-")}`);
mkdirSync(dir, { recursive: true });
process.on("exit", killAllNow);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void stopAll().finally(() => process.exit(130)));

const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
const secretOf = (id: string) => `${secret}-${id}`;
const basic = (id: string) => `Basic ${Buffer.from(`${id}:${secretOf(id)}`).toString("base64")}`;
const wrk = await ensureWrk(console.error);
const db = await createDatabase("profile");
try {
  await migrate(db.dsn);
  if (process.env.BENCH_AUTO_EXPLAIN) {
    // Plans of statements slower than N ms into PostgreSQL's log (the server's new connections load auto_explain).
    const admin = postgres(db.dsn, { max: 1, onnotice: () => {} });
    await admin.unsafe(`alter database "${db.name}" set session_preload_libraries = 'auto_explain'`);
    await admin.unsafe(`alter database "${db.name}" set auto_explain.log_min_duration = '${Number(process.env.BENCH_AUTO_EXPLAIN)}ms'`);
    await admin.unsafe(`alter database "${db.name}" set auto_explain.log_analyze = on`);
    await admin.end();
  }
  // BENCH_PREFILL_TOKENS=N: N access-token rows first, as a long run leaves them (random keys).
  const prefill = Number(process.env.BENCH_PREFILL_TOKENS ?? 0);
  if (prefill > 0) {
    const sql = postgres(db.dsn, { max: 1, onnotice: () => {} });
    await sql`insert into oauth2_access_tokens (signature, request_id, client_id, subject, granted_scope, session, expires_at)
      select md5(random()::text) || md5(g::text), gen_random_uuid()::text, 'bench-machine', 'bench-machine', 'read', repeat('x', 200), now() + interval '1 hour'
      from generate_series(1, ${prefill}) g`;
    await sql`checkpoint`;
    await sql.end();
  }
  const g = await startGatehouse({
    dsn: process.env.BENCH_PG_SOCKET ? `${db.dsn}?host=/var/run/postgresql` : db.dsn,
    accessTokens: workload === "W2" ? "jwt" : "opaque",
    secret,
    logFile: join(dir, "gatehouse.log"),
    // BENCH_GATEHOUSE_MAIN: another checkout's src/main.ts, to compare a change before/after.
    command: [process.execPath, ...(process.env.BENCH_NO_PROFILE ? [] : ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${dir}`]), process.env.BENCH_GATEHOUSE_MAIN ?? join(repoRoot, "src", "main.ts")],
  });
  try {
    await seedGatehouse(g.adminUrl, secretOf);
    const tokenBody = "grant_type=client_credentials&scope=read";
    let tokens: string[] | undefined;
    if (workload === "W3") {
      tokens = [];
      for (let i = 0; i < 256; i++) {
        const res = await fetch(`${g.publicUrl}/oauth2/token`, { method: "POST", body: tokenBody, headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: basic("bench-machine") } });
        tokens.push(((await res.json()) as { access_token: string }).access_token);
      }
    }
    const specs = {
      W1: { url: `${g.publicUrl}/oauth2/token`, method: "POST", body: tokenBody, headers: [`Authorization: ${basic("bench-machine")}`] },
      W2: { url: `${g.publicUrl}/oauth2/token`, method: "POST", body: tokenBody, headers: [`Authorization: ${basic("bench-machine")}`] },
      W3: { url: `${g.adminUrl}/oauth2/introspect`, method: "POST", body: "token={{token}}", tokens },
      W6a: { url: `${g.publicUrl}/.well-known/openid-configuration`, method: "GET" },
      W6b: { url: `${g.publicUrl}/.well-known/jwks.json`, method: "GET" },
      W8a: { url: `${g.adminUrl}/clients/bench-app`, method: "GET" },
      W8b: { url: `${g.adminUrl}/clients`, method: "GET" },
    } as const;
    if (workload === "W4" || workload === "W5") {
      // The multi-step workloads: the same flow generator as bench/run.ts, in its own process.
      const flows = async (mode: FlowsConfig["mode"], durationMs: number, extra: Partial<FlowsConfig> = {}) => {
        const cfg: FlowsConfig = { target: "gatehouse", mode, publicUrl: g.publicUrl, adminUrl: g.adminUrl, clientId: "bench-app", clientSecret: secretOf("bench-app"), redirectUri, scope: appScope, concurrency: 32, warmupMs: 0, durationMs, ...extra };
        const out = await runCommand([process.execPath, join(import.meta.dir, "load", "flows.ts"), JSON.stringify(cfg)], { cwd: repoRoot, timeoutMs: durationMs + 120_000 });
        const last = out.stdout.trim().split("\n").pop() ?? "";
        if (out.code !== 0 || !last.startsWith("{")) throw new Error(`flow generator failed: ${out.stdout.slice(0, 1000)}${out.stderr.slice(0, 1000)}`);
        return JSON.parse(last) as FlowsResult;
      };
      const mode = workload === "W4" ? "flow" : "refresh";
      await flows(mode, 3000);
      const cpu0 = cpuSeconds(g.managed.pid);
      const pg0 = backendCpuSeconds(db.name);
      const r = await flows(mode, seconds * 1000);
      // Includes the generator's start-up (idle for the server); ops are those in the window.
      const cpu = cpuSeconds(g.managed.pid) - cpu0;
      const pgCpu = backendCpuSeconds(db.name) - pg0;
      console.log(`${workload}: ${Math.round(r.opsPerS)} ops/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, errors ${r.errors}, ${perOp(cpu, r.ops)}, PostgreSQL backends ${((pgCpu * 1000) / Math.max(1, r.ops)).toFixed(3)} ms/op${process.env.BENCH_NO_PROFILE ? "" : " (under the profiler)"}`);
    } else {
    const spec = specs[workload as keyof typeof specs];
    if (!spec) throw new Error(`unknown workload ${workload}; one of ${Object.keys(specs).join(", ")}`);
    const wrkSpec = { ...spec, tokens: "tokens" in spec && spec.tokens ? [...spec.tokens] : undefined, headers: "headers" in spec ? [...spec.headers] : undefined, connections: 32 };
    // A warm-up as in bench/run.ts (JIT, the secret verification cache, the pool).
    await runWrk(wrk, { ...wrkSpec, durationS: 3 }, join(dir, "tokens.txt"));
    const cpu0 = cpuSeconds(g.managed.pid);
    const pg0 = backendCpuSeconds(db.name);
    const m = await runWrk(wrk, { ...wrkSpec, durationS: seconds }, join(dir, "tokens.txt"));
    const cpu = cpuSeconds(g.managed.pid) - cpu0;
    const pgCpu = backendCpuSeconds(db.name) - pg0;
    console.log(`${workload}: ${Math.round(m.rps)} req/s, p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms, errors ${m.errors}, ${perOp(cpu, m.requests)}, PostgreSQL backends ${((pgCpu * 1000) / Math.max(1, m.requests)).toFixed(3)} ms/op${process.env.BENCH_NO_PROFILE ? "" : " (under the profiler)"}`);
    }
  } finally {
    await stopManaged(g.managed, 20_000);
  }
  console.log(`profile: ${dir}\n${readdirSync(dir).join("\n")}`);
} finally {
  await stopAll();
  await dropDatabase(db.name);
}
