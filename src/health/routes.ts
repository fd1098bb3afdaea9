/** @module /health/alive and /health/ready (both listeners); /version and /metrics/prometheus (admin only). */
import type { Deps } from "../deps.ts";
import { json, preserialized, type Handler, type RouteTable } from "../server/http.ts";
import { version } from "../version.ts";

const okBody = JSON.stringify({ status: "ok" });

export function isAlive(): Handler {
  return () => preserialized(okBody);
}

/** How long the database (or any other readiness check) may take to answer. */
const pingTimeoutMs = 2000;

/** A check's problem, or undefined; a rejection or a late answer is a problem too. */
async function bounded(check: () => Promise<string | undefined>): Promise<string | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${pingTimeoutMs} ms`), pingTimeoutMs);
  });
  try {
    const answer = Promise.resolve()
      .then(check)
      .catch((err: unknown) => (err instanceof Error ? err.message : String(err)) || "failed");
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * All checks run at once, each bounded, so a probe answers within about
 * pingTimeoutMs whatever hangs (load balancers give up and mark us down otherwise).
 */
export async function readinessProblems(deps: Deps): Promise<Record<string, string>> {
  const checks: [string, () => Promise<string | undefined>][] = [
    ["database", () => deps.database.ping().then(() => undefined)],
    ...deps.readiness,
  ];
  const results = await Promise.all(checks.map(async ([name, check]) => [name, await bounded(check)] as const));
  const problems: Record<string, string> = {};
  for (const [name, problem] of results) if (problem) problems[name] = problem;
  return problems;
}

export function isReady(deps: Deps): Handler {
  return async () => {
    const errors = await readinessProblems(deps);
    return Object.keys(errors).length === 0 ? preserialized(okBody) : json({ errors }, 503);
  };
}

export function getVersion(): Handler {
  const body = JSON.stringify({ version });
  return () => preserialized(body);
}

export function getPrometheusMetrics(deps: Deps): Handler {
  return async () => {
    // A database that does not answer must not stop the scrape: the pool series are left out.
    const stats = await Promise.race([deps.database.poolStats().catch(() => undefined), Bun.sleep(1000).then(() => undefined)]);
    const text = deps.metrics.render({ poolMax: deps.database.pool().max, dbKind: deps.database.kind, poolByState: stats?.byState });
    return new Response(text, { headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" } });
  };
}

export function healthRoutes(deps: Deps): RouteTable {
  return {
    "/health/alive": { GET: isAlive() },
    "/health/ready": { GET: isReady(deps) },
  };
}
