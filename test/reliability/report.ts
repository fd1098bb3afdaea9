/**
 * @module Renders RELIABILITY.md from the last runs of test/reliability: the figures each test
 * wrote (figures.ts, test/.artifacts/reliability/<test>.<short|long>.json) and the JUnit report
 * of the run (pass/fail and time per file), next to a fixed description of what each test proves.
 * It lists what exists: a test file or figures file added later gets its row without a change here.
 *
 *   bun run reliability:report              render from the last runs
 *   bun run reliability:report --run        run the short suite (as CI does), then render
 *   bun run reliability:report --run --long run the long variants (RELIABILITY_LONG=1), then render
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describeCommit, describeMachine, figuresDir, type FiguresFile } from "./figures.ts";

const root = join(import.meta.dir, "..", "..");
const testDir = import.meta.dir;
type Variant = "short" | "long";

/** What each test of issue #9 proves. Files not listed here still get a row (from their @module). */
const described: Record<string, { area: string; proves: string }> = {
  "faults-postgres-restart": {
    area: "Faults",
    proves:
      "A dedicated PostgreSQL cluster is stopped (fast and immediate) and started under client_credentials + introspection load: while down every request is a fast 503 temporarily_unavailable with Retry-After and /health/ready is 503; the pool recovers without a restart; no request fails once PostgreSQL accepts again; every token answered 200 is still active afterwards.",
  },
  "faults-process": {
    area: "Faults",
    proves:
      "SIGTERM under load: every request sent before the signal gets its full answer, exit 0. SIGKILL mid-load and restart: no half-written token or client, the stale admin socket is replaced, acknowledged tokens stay active. Three instances on one database: a flow begun on a killed instance completes on the others.",
  },
  "faults-concurrent-start": {
    area: "Races",
    proves: "Instances and `migrate sql` runs started at once on an empty database: one schema, each migration recorded once, one key per set, all instances ready with the same JWKS.",
  },
  "faults-unavailable": {
    area: "Faults",
    proves: "The driver errors that mean \"database unavailable\" (connection refused/closed/timeouts, SQLSTATE 08xxx/57P0x/53300) become 503 temporarily_unavailable with Retry-After, bare or wrapped by drizzle; other errors stay 500.",
  },
  races: {
    area: "Races",
    proves:
      "N parallel accepts of one consent challenge give one verifier redeemed once; mixed accepts/rejects give a code or access_denied, never both; parallel login accepts with different subjects have one winner, whose subject the consent request carries (PostgreSQL and PGlite). Code redemption and refresh races live in test/grants, login-challenge races in test/flows/security.",
  },
  fuzz: {
    area: "Hostile input",
    proves:
      "fast-check (fixed seed in CI) sends malformed, oversized, wrongly typed and unicode-tricky bodies, query strings, headers, JSON Patch documents, JWTs and redirect URIs to every public and admin endpoint, and to live flows: real login/consent/logout challenges and login/consent verifiers with fuzzed GET/accept/reject queries and bodies and tampered cookies. Every answer is a 4xx JSON (or HTML/redirect on browser endpoints) error, never a 5xx or a hang, and a rejected request leaves every table unchanged.",
  },
  "fuzz-findings": {
    area: "Hostile input",
    proves: "Fixed cases of what the live-flow fuzzer found: an unpaired UTF-16 surrogate in JSON (client metadata, login accept/reject) is stored as U+FFFD like Go's decoder does, not a 500; remember_for beyond 2^31-1 is a 400, not a 500 at store time; a login/consent challenge with a NUL is a 404, not a 500 (PostgreSQL and PGlite).",
  },
  limits: {
    area: "Hostile input",
    proves: "Body over serve.request_body_limit is 413 (declared or chunked) on both listeners; admin JSON deeper than 64 levels is 400; at most 100 redirect URIs/contacts/audiences/scopes per client; NUL characters are 4xx, never 500.",
  },
  connections: {
    area: "Hostile input",
    proves: "Oversized request headers are 431 and closed on both listeners; clients stalling in the request line, headers or body, or trickling a body, are disconnected within a bound while others are served.",
  },
  ssrf: {
    area: "Hostile input",
    proves:
      "Outbound fetches made for clients (sector_identifier_uri, jwks_uri, request_uri, back-channel logout) refuse loopback/private/link-local hosts in every spelling, before connecting; registration answers 400 invalid_client_metadata; exceptions are exact URLs.",
  },
  "open-redirect": {
    area: "Hostile input",
    proves: "Look-alike hosts, backslashes, encoded fragments, user-info, CRLF, javascript:/data: URIs never make /oauth2/auth (every response mode), logout or the error page redirect to an unregistered place.",
  },
  authorization: {
    area: "Hostile input",
    proves: "Admin routes are 404 on the public listener under every spelling (case, trailing slash, `//`, `%2F`, `..`) and never reveal admin data. Cross-client revocation/introspection and public clients using client_credentials are covered in test/oauth2 and test/grants.",
  },
  "faults-timing": {
    area: "Hostile input",
    proves: "Client authentication with an unknown client id and with a wrong secret take indistinguishable time: medians of interleaved token requests differ by less than 25 % (the measured difference is below).",
  },
  "secrets-in-logs": {
    area: "Hostile input",
    proves: "A full flow (authorize, login, consent, token, refresh, introspection, revocation, DCR, logout) against a server process at log level trace, text and JSON: no token, secret, code, password or verifier string appears in stdout or stderr.",
  },
};

/** Rows in the order of issue #9: faults, races, hostile input, then anything not described yet. */
function areaOrder(test: string): number {
  const i = ["Faults", "Races", "Hostile input"].indexOf(described[test]?.area ?? "");
  return i < 0 ? 9 : i;
}

interface SuiteResult {
  tests: number;
  failures: number;
  skipped: number;
  seconds: number;
}

function junitPath(v: Variant): string {
  return join(figuresDir, `junit.${v}.xml`);
}

/** Per test file: counts from the top-level <testsuite> elements of bun's JUnit report. */
function readJunit(v: Variant): { at: string; suites: Record<string, SuiteResult> } | undefined {
  const path = junitPath(v);
  if (!existsSync(path)) return undefined;
  const xml = readFileSync(path, "utf8");
  const suites: Record<string, SuiteResult> = {};
  for (const m of xml.matchAll(/^ {2}<testsuite name="[^"]*" file="([^"]+)" tests="(\d+)" assertions="\d+" failures="(\d+)" skipped="(\d+)" time="([\d.]+)"/gm)) {
    const name = m[1]!.split("/").pop()!.replace(/\.test\.ts$/, "");
    suites[name] = { tests: Number(m[2]), failures: Number(m[3]), skipped: Number(m[4]), seconds: Number(m[5]) };
  }
  const meta = join(figuresDir, `junit.${v}.json`);
  const at = existsSync(meta) ? (JSON.parse(readFileSync(meta, "utf8")) as { at: string }).at : "";
  return { at, suites };
}

function readFigures(): Record<string, Partial<Record<Variant, FiguresFile>>> {
  const out: Record<string, Partial<Record<Variant, FiguresFile>>> = {};
  if (!existsSync(figuresDir)) return out;
  for (const file of readdirSync(figuresDir)) {
    const m = /^(.+)\.(short|long)\.json$/.exec(file);
    if (!m) continue;
    try {
      const parsed = JSON.parse(readFileSync(join(figuresDir, file), "utf8")) as FiguresFile;
      // junit.<variant>.json is the run's own record; anything else not written by figures.ts is left out.
      if (m[1] === "junit" || typeof parsed.recordedAt !== "string" || typeof parsed.figures !== "object" || parsed.figures === null) continue;
      (out[m[1]!] ??= {})[m[2] as Variant] = parsed;
    } catch {
      // a file being written right now: left out of this rendering
    }
  }
  return out;
}

/** The first sentence of a test file's @module comment, for files without a description above. */
function moduleSummary(name: string): string {
  const text = readFileSync(join(testDir, `${name}.test.ts`), "utf8");
  const m = /\/\*\*\s*\n?\s*\*?\s*@module\s+([\s\S]*?)\*\//.exec(text);
  if (!m) return "(no description)";
  const flat = m[1]!.replace(/\n\s*\*\s?/g, " ").replace(/\s+/g, " ").trim();
  const end = flat.search(/\.\s/);
  return end > 0 ? flat.slice(0, end + 1) : flat;
}

const n = (x: unknown) => (typeof x === "number" ? x.toLocaleString("en-US") : String(x));
const kinds = (o: unknown) =>
  Object.entries((o ?? {}) as Record<string, number>)
    .map(([k, v]) => `${k}: ${n(v)}`)
    .join(", ");

/** Readable lines for the figures of the tests that have them; anything else is listed key by key. */
function summarize(test: string, f: Record<string, any>): string[] {
  switch (test) {
    case "faults-postgres-restart":
      return [
        ...(f.cycles as Record<string, any>[]).map(
          (c, i) =>
            `restart ${i + 1} (stop -m ${c.stopMode}, down ${n(c.downMs)} ms): ${n(c.requestsDuringOutage)} requests during the outage (${kinds(c.outageErrorsByKind)}), slowest ${n(c.slowestDuringOutageMs)} ms; first token 200 ${c.recoverySeconds} s after PostgreSQL accepted, /health/ready 200 after ${c.readySeconds} s; ${n(c.failedAfterAccepting)} requests failed after it accepted`,
        ),
        `whole run: ${n(f.requests)} requests (${kinds(f.outcomesByKind)}), slowest ${n(f.slowestRequestMs)} ms`,
        `nothing lost: ${n(f.tokensStillActive)} of ${n(f.tokensAcknowledged)} acknowledged tokens still active; ${n(f.failuresAfterRecovery)} failures after recovery`,
      ];
    case "fuzz":
      return [
        `${n(f.cases)} cases: ${n(f.casesPerEndpoint)} per endpoint over ${n(f.endpoints)} endpoints, plus ${n(f.liveFlowCases)} against live flows (${n(f.liveFlowTargets)} targets, up to ${n(f.casesPerLiveTarget)} each); seed ${f.seed}`,
        `${n(f.liveChallengesConsumed)} live challenges/verifiers were used up by accepted input (a new flow was started for the next case)`,
        ...Object.entries((f.liveStatuses ?? {}) as Record<string, Record<string, number>>).map(([t, s]) => `live ${t}: ${kinds(s)}`),
      ];
    case "faults-timing":
      return [`${n(f.pairs)} interleaved pairs: median unknown client ${f.medianUnknownClientMs} ms, wrong secret ${f.medianWrongSecretMs} ms, difference ${f.differenceMs} ms (${f.differencePercent} % of the larger)`];
    case "faults-process": {
      const lines: string[] = [];
      if (f.sigterm)
        lines.push(
          `SIGTERM after ${n(f.sigterm.loadMs)} ms of load (${n(f.sigterm.workers)} workers): ${n(f.sigterm.sentBeforeSignal)} requests sent before the signal (${kinds(f.sigterm.answersBeforeSignal)}), ${n(f.sigterm.inFlightAtSignal)} in flight at the signal, the last answered ${n(f.sigterm.lastAnsweredAfterSignalMs)} ms after it; exit ${f.sigterm.exitCode}`,
        );
      if (f.sigkill)
        lines.push(
          `SIGKILL: ${n(f.sigkill.tokenRows)} token rows (${n(f.sigkill.brokenTokenRows)} broken), ${n(f.sigkill.clients)} clients (${n(f.sigkill.incompleteClients)} incomplete), ${n(f.sigkill.tokensAcknowledged)} acknowledged tokens, ${n(f.sigkill.inactiveAfterRestart)} inactive after restart`,
        );
      if (f.threeInstances) lines.push(`three instances: flow begun on a killed instance completed on the other two: ${f.threeInstances.flowCompletedAcrossInstances ? "yes" : "no"}`);
      return lines;
    }
    case "races":
      return Object.entries(f).map(([part, v]) => `${part}: ${kinds(v)}`);
    case "secrets-in-logs":
      return Object.entries(f).map(([format, v]) => `${format} logs: ${n(v.logLines)} lines, ${n(v.secretsChecked)} secret strings looked for, ${n(v.leaked)} found`);
    default:
      return Object.entries(f).map(([k, v]) => `${k}: ${typeof v === "object" && v !== null ? JSON.stringify(v) : n(v)}`);
  }
}

function run(v: Variant): number {
  const started = new Date().toISOString();
  const proc = Bun.spawnSync(
    [process.execPath, "test", "--timeout", v === "long" ? "600000" : "120000", "--reporter=junit", `--reporter-outfile=${junitPath(v)}`, "test/reliability"],
    { cwd: root, stdout: "inherit", stderr: "inherit", env: { ...process.env, RELIABILITY_LONG: v === "long" ? "1" : "" } },
  );
  writeFileSync(join(figuresDir, `junit.${v}.json`), `${JSON.stringify({ at: started, machine: describeMachine(), commit: describeCommit(), exitCode: proc.exitCode })}\n`);
  return proc.exitCode ?? 1;
}

function render(): string {
  const figures = readFigures();
  const junit = { short: readJunit("short"), long: readJunit("long") };
  const tests = readdirSync(testDir)
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => f.replace(/\.test\.ts$/, ""))
    .sort((a, b) => areaOrder(a) - areaOrder(b) || a.localeCompare(b));

  const status = (t: string, v: Variant) => {
    const s = junit[v]?.suites[t];
    if (!s) return "not run";
    return `${s.failures ? `**${s.failures} failed**` : "pass"} (${s.tests - s.skipped} test${s.tests - s.skipped === 1 ? "" : "s"}, ${s.seconds.toFixed(1)} s)`;
  };
  const out: string[] = [];
  out.push("# Reliability", "");
  out.push(
    "What test/reliability proves about Gatehouse (issue #9) and the figures of its last runs. Generated by `bun run reliability:report` from the figures the tests write to test/.artifacts/reliability/ — do not edit by hand.",
    "",
    "- **short**: the variant CI runs in `bun test` (`bun run reliability:report --run` runs it and regenerates this file).",
    "- **long**: `RELIABILITY_LONG=1` — more restart cycles, longer load, more racers, ten times the fuzz cases with a fresh seed, more timing pairs (`bun run reliability:report --run --long`). Every loop is bounded in count and time in both.",
    "",
  );
  for (const v of ["short", "long"] as const) {
    const meta = existsSync(join(figuresDir, `junit.${v}.json`)) ? (JSON.parse(readFileSync(join(figuresDir, `junit.${v}.json`), "utf8")) as { at: string; machine: string; commit: string; exitCode: number }) : undefined;
    if (!meta) continue;
    const suites = Object.values(junit[v]?.suites ?? {});
    const total = suites.reduce((a, s) => a + s.tests - s.skipped, 0);
    const failed = suites.reduce((a, s) => a + s.failures, 0);
    out.push(`Last ${v} run: ${meta.at.replace("T", " ").slice(0, 19)} UTC, ${total} tests in ${suites.length} files, ${failed} failed; machine ${meta.machine}; commit ${meta.commit}.`, "");
  }
  out.push("| Test | Area | What it proves | Short (CI) | Long |", "|---|---|---|---|---|");
  for (const t of tests) {
    const d = described[t] ?? { area: "—", proves: moduleSummary(t) };
    out.push(`| [${t}](test/reliability/${t}.test.ts) | ${d.area} | ${d.proves.replace(/\|/g, "\\|")} | ${status(t, "short")} | ${status(t, "long")} |`);
  }
  out.push("", "## Figures", "");
  const withFigures = tests.filter((t) => figures[t]).concat(Object.keys(figures).filter((t) => !tests.includes(t)).sort());
  for (const t of withFigures) {
    out.push(`### ${t}`, "");
    for (const v of ["short", "long"] as const) {
      const file = figures[t]![v];
      if (!file) continue;
      out.push(`**${v}** (${file.recordedAt.replace("T", " ").slice(0, 19)} UTC, commit ${file.commit}, ${file.machine}):`, "");
      for (const line of summarize(t, file.figures)) out.push(`- ${line}`);
      out.push("");
    }
  }
  const without = tests.filter((t) => !figures[t]);
  if (without.length) out.push(`Tests without figures of their own (pass/fail above is their result): ${without.join(", ")}.`, "");
  return `${out.join("\n").trimEnd()}\n`;
}

const args = process.argv.slice(2);
let exitCode = 0;
if (args.includes("--run")) exitCode = run(args.includes("--long") ? "long" : "short");
writeFileSync(join(root, "RELIABILITY.md"), render());
console.log(`RELIABILITY.md written${exitCode ? ` (the test run failed: exit ${exitCode})` : ""}`);
process.exit(exitCode);
