/** @module /health/alive and /health/ready (both listeners); /version and /metrics/prometheus (admin only). */
import type { Deps } from "../deps.ts";
import { json, preserialized, type Handler, type RouteTable } from "../server/http.ts";
import { version } from "../version.ts";

const okBody = JSON.stringify({ status: "ok" });

export function isAlive(): Handler {
  return () => preserialized(okBody);
}

/** How long the database may take to answer a readiness ping. */
const pingTimeoutMs = 2000;

export async function readinessProblems(deps: Deps): Promise<Record<string, string>> {
  const problems: Record<string, string> = {};
  const ping = deps.database.ping().then(
    () => undefined,
    (err: Error) => err.message || String(err),
  );
  const timeout = Bun.sleep(pingTimeoutMs).then(() => `no answer within ${pingTimeoutMs} ms`);
  const database = await Promise.race([ping, timeout]);
  if (database) problems.database = database;
  for (const [name, check] of deps.readiness) {
    const problem = await check().catch((err: Error) => err.message);
    if (problem) problems[name] = problem;
  }
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
  return () =>
    new Response(deps.metrics.render({ poolMax: deps.database.pool().max, dbKind: deps.database.kind }), {
      headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
    });
}

export function healthRoutes(deps: Deps): RouteTable {
  return {
    "/health/alive": { GET: isAlive() },
    "/health/ready": { GET: isReady(deps) },
  };
}
