/**
 * CI smoke test of the benchmark harness: `bun run bench --quick` (about a second per workload,
 * ~1 min in all on the 2-core machine) must finish, measure every workload on every target with
 * zero errors, and print the tables. Its numbers are not judged. Robust to a loaded machine: the
 * flow workloads' windows stay open until a few flows are in (bench/load/flows.ts minOps), and
 * the harness stops itself after 6 minutes (cleanup included), before this test's own limit.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const repoRoot = join(import.meta.dir, "..", "..");
const out = mkdtempSync(join(tmpdir(), "gatehouse-bench-quick-"));
/** Past the harness's own quick limit (6 min), so the harness reports and cleans up first. */
const timeoutMs = 390_000;

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

interface Results {
  rows: { workload: string; target: string; errors: number; rps: number }[];
  skipped: unknown[];
  failures: string[];
  servers: { label: string; startupMs: number; peakRssKiB?: number }[];
}

test(
  "bun run bench --quick completes with zero errors and prints the table",
  async () => {
    const started = performance.now();
    const proc = Bun.spawn([process.execPath, "run", "bench", "--quick", "--out", out], {
      cwd: repoRoot,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: timeoutMs,
      killSignal: "SIGTERM",
    });
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    const code = await proc.exited;
    console.error(`bench --quick: exit ${code} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (code !== 0) console.error(stderr.slice(-4000));
    expect(code).toBe(0);

    // The tables, on stdout.
    expect(stdout).toContain("### Gatehouse / oidc-provider / ceiling");
    expect(stdout).toContain("### Every measurement");
    expect(stdout).toMatch(/\| W1 client_credentials[^\n]*\| Gatehouse /);

    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as Results;
    expect(results.failures).toEqual([]);
    expect(results.skipped).toEqual([]);
    const measured = (target: string) => results.rows.filter((r) => r.target === target).map((r) => r.workload).sort();
    expect(measured("gatehouse")).toEqual(["W1", "W2", "W3", "W4", "W5", "W6a", "W6b", "W7", "W8a", "W8b"]);
    for (const peer of ["peer-pg", "peer-memory"]) expect(measured(peer)).toEqual(["W1", "W2", "W3", "W4", "W5", "W6a", "W6b", "W7"]);
    expect(measured("ceiling")).toEqual(["C1", "C2", "C3", "C4"]);
    for (const row of results.rows) {
      expect({ row: `${row.workload}/${row.target}`, errors: row.errors }).toEqual({ row: `${row.workload}/${row.target}`, errors: 0 });
      expect(row.rps).toBeGreaterThan(0);
    }
    // Startup and memory were measured for every server.
    expect(results.servers.length).toBe(4);
    for (const s of results.servers) {
      expect(s.startupMs).toBeGreaterThan(0);
      expect(s.peakRssKiB).toBeGreaterThan(0);
    }
  },
  timeoutMs + 10_000,
);
