/**
 * @module The harness's tables (Markdown, printed and saved): every workload × target,
 * the ratios Gatehouse / oidc-provider and Gatehouse / machine ceiling, the issue's
 * targets, servers' startup and peak memory, and the long run's windows.
 */
import type { LongRunWindow, Row, ServerStats, TargetId } from "./types.ts";

export interface WorkloadInfo {
  id: string;
  title: string;
  unit: string;
  /** Which machine ceiling bounds it. */
  ceiling?: "http" | "insert" | "select";
}

export const workloads: WorkloadInfo[] = [
  { id: "W1", title: "client_credentials, client_secret_basic, opaque", unit: "tokens/s", ceiling: "insert" },
  { id: "W2", title: "client_credentials, JWT access token (RS256)", unit: "tokens/s", ceiling: "insert" },
  { id: "W3", title: "introspection of opaque tokens", unit: "req/s", ceiling: "select" },
  { id: "W4", title: "authorization code + PKCE, complete flow (8 requests)", unit: "flows/s" },
  { id: "W5", title: "refresh-token rotation", unit: "tokens/s", ceiling: "insert" },
  { id: "W6a", title: "GET /.well-known/openid-configuration", unit: "req/s", ceiling: "http" },
  { id: "W6b", title: "GET JWKS", unit: "req/s", ceiling: "http" },
  { id: "W7", title: "GET /userinfo", unit: "req/s", ceiling: "select" },
  { id: "W8a", title: "GET /clients/{id} (admin)", unit: "req/s", ceiling: "select" },
  { id: "W8b", title: "GET /clients (admin, one page)", unit: "req/s", ceiling: "select" },
];

export const ceilingRows = { http: "C1", insert: "C3", select: "C4" } as const;

export const ceilingTitles: Record<string, string> = {
  C1: "bare Bun.serve hello (HTTP ceiling)",
  C2: "bare node:http hello (the peer's runtime)",
  C3: "pgbench one-row INSERT (storage ceiling)",
  C4: "pgbench one-row SELECT by PK (storage ceiling)",
};

const targetOrder: TargetId[] = ["gatehouse", "peer-pg", "peer-memory", "ceiling"];

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—");
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : "—");
const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : "—";
const percent = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${Math.round((a / b) * 100)}%` : "—";

export interface Skipped {
  workload: string;
  target: TargetId;
  reason: string;
}

function find(rows: Row[], workload: string, target: TargetId): Row | undefined {
  return rows.find((r) => r.workload === workload && r.target === target);
}

/** Every measurement: one line per workload and target. */
export function measurementsTable(rows: Row[], skipped: Skipped[]): string {
  const out = ["| Workload | Target | ops/s | p50 ms | p99 ms | errors | ops |", "|---|---|--:|--:|--:|--:|--:|"];
  const ids = [...workloads.map((w) => w.id), "C1", "C2", "C3", "C4"];
  for (const id of ids) {
    const title = workloads.find((w) => w.id === id)?.title ?? ceilingTitles[id] ?? id;
    for (const target of targetOrder) {
      const r = find(rows, id, target);
      if (r) out.push(`| ${id} ${title} | ${r.label} | ${int(r.rps)} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${r.errors} | ${int(r.requests)} |`);
      const s = skipped.find((x) => x.workload === id && x.target === target);
      if (s) out.push(`| ${id} ${title} | ${target} | not run: ${s.reason} | | | | |`);
    }
  }
  return out.join("\n");
}

/** Gatehouse against the peer (both columns) and against the machine's ceiling. */
export function ratiosTable(rows: Row[]): string {
  const out = [
    "| Workload | Gatehouse | oidc-provider (PG) | Gatehouse / oidc-provider (PG) | oidc-provider (memory) | Gatehouse / oidc-provider (memory) | Ceiling | Gatehouse / ceiling |",
    "|---|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const w of workloads) {
    const g = find(rows, w.id, "gatehouse")?.rps;
    const p = find(rows, w.id, "peer-pg")?.rps;
    const m = find(rows, w.id, "peer-memory")?.rps;
    const cid = w.ceiling ? ceilingRows[w.ceiling] : undefined;
    const c = cid ? find(rows, cid, "ceiling")?.rps : undefined;
    if (g === undefined && p === undefined && m === undefined) continue;
    out.push(
      `| ${w.id} ${w.title} (${w.unit}) | ${int(g ?? NaN)} | ${int(p ?? NaN)} | ${ratio(g, p)} | ${int(m ?? NaN)} | ${ratio(g, m)} | ${cid ? `${cid} ${int(c ?? NaN)}` : "—"} | ${percent(g, c)} |`,
    );
  }
  return out.join("\n");
}

export interface Goal {
  goal: string;
  measured: string;
  met: boolean | undefined;
}

/** The issue's targets, checked against this run. */
export function goals(rows: Row[], servers: ServerStats[]): Goal[] {
  const rps = (w: string, t: TargetId) => find(rows, w, t)?.rps;
  const out: Goal[] = [];
  const atLeast = (goal: string, value: number | undefined, min: number | undefined, show: string) =>
    out.push({ goal, measured: show, met: value === undefined || min === undefined ? undefined : value >= min });
  const w1 = rps("W1", "gatehouse");
  const w3 = rps("W3", "gatehouse");
  const w4 = rps("W4", "gatehouse");
  const insert = rps("C3", "ceiling");
  const select = rps("C4", "ceiling");
  const http = rps("C1", "ceiling");
  atLeast("W1 ≥ 10,000 tokens/s", w1, 10_000, int(w1 ?? NaN));
  atLeast("W1 ≥ 50% of pgbench INSERT", w1, insert === undefined ? undefined : insert / 2, percent(w1, insert));
  atLeast("W3 ≥ 15,000 introspections/s", w3, 15_000, int(w3 ?? NaN));
  atLeast("W3 ≥ 50% of pgbench SELECT", w3, select === undefined ? undefined : select / 2, percent(w3, select));
  atLeast("W4 ≥ 1,000 flows/s", w4, 1000, int(w4 ?? NaN));
  for (const w of ["W6a", "W6b"]) {
    const v = rps(w, "gatehouse");
    atLeast(`${w} ≥ 50% of bare Bun.serve`, v, http === undefined ? undefined : http / 2, percent(v, http));
  }
  for (const w of workloads) {
    const g = rps(w.id, "gatehouse");
    const p = rps(w.id, "peer-pg");
    if (g === undefined || p === undefined) continue;
    atLeast(`${w.id} ≥ 3× oidc-provider (PG)`, g, 3 * p, ratio(g, p));
  }
  const errors = rows.filter((r) => r.errors > 0);
  out.push({
    goal: "zero errors in every run",
    measured: errors.length === 0 ? "0" : errors.map((r) => `${r.workload}/${r.target}: ${r.errors}`).join(", "),
    met: errors.length === 0,
  });
  for (const s of servers.filter((s) => s.label.startsWith("Gatehouse"))) {
    const mib = s.peakRssKiB === undefined ? undefined : s.peakRssKiB / 1024;
    out.push({ goal: `peak RSS < 200 MB (${s.label})`, measured: mib === undefined ? "—" : `${mib.toFixed(0)} MiB`, met: mib === undefined ? undefined : mib * 1.048576 < 200 });
  }
  return out;
}

export function goalsTable(list: Goal[]): string {
  const out = ["| Target | Measured | Met |", "|---|--:|:-:|"];
  for (const g of list) out.push(`| ${g.goal} | ${g.measured} | ${g.met === undefined ? "—" : g.met ? "yes" : "**no**"} |`);
  return out.join("\n");
}

export function serversTable(servers: ServerStats[]): string {
  const out = ["| Server | Startup to /health/ready 200 (ms) | Peak RSS (VmHWM, MiB) | Note |", "|---|--:|--:|---|"];
  for (const s of servers) {
    out.push(`| ${s.label} | ${Math.round(s.startupMs)} | ${s.peakRssKiB === undefined ? "—" : (s.peakRssKiB / 1024).toFixed(1)} | ${s.note ?? ""} |`);
  }
  return out.join("\n");
}

export function windowsTable(windows: LongRunWindow[], unit: string): string {
  const db = windows.some((w) => w.checkpoints !== undefined);
  const out = [
    `| Window | ${unit} | p50 ms (≤ bucket) | p99 ms (≤ bucket) | errors |${db ? " PostgreSQL checkpoints | WAL MiB | token table MiB |" : ""}`,
    `|---|--:|--:|--:|--:|${db ? "--:|--:|--:|" : ""}`,
  ];
  for (const w of windows) {
    const pg = db ? ` ${w.checkpoints ?? "—"} | ${int(w.walMiB ?? NaN)} | ${int(w.tableMiB ?? NaN)} |` : "";
    out.push(`| ${w.fromS}–${w.toS} s | ${int(w.rps)} | ${ms(w.p50Ms)} | ${ms(w.p99Ms)} | ${w.errors} |${pg}`);
  }
  return out.join("\n");
}
