/**
 * @module Wraps every route of a listener in the same steps:
 * request id → TLS-termination guard → CORS → handler → error renderer → access log + metrics.
 */
import type { BunRequest, Server } from "bun";
import type { Deps } from "../deps.ts";
import { methodNotAllowed, notFound, OAuthError } from "../errors.ts";
import { inRanges, parseCidr, type Cidr } from "../lib/cidr.ts";
import type { Cx, Handler, Method, RouteTable } from "./http.ts";
import { renderError } from "./render-error.ts";
import { applyCors, type CorsPolicy } from "./cors.ts";

export interface ListenerPolicy {
  name: "public" | "admin";
  /** Unix socket: the file mode is the access control, so no TLS guard (as Hydra). */
  unix: boolean;
  /** Plain HTTP allowed only from these peers with X-Forwarded-Proto: https. Empty = no guard. */
  terminationRanges: readonly string[];
  cors?: CorsPolicy;
}

// Health is always reachable so that load balancers can probe plain HTTP (Hydra exempts metrics too).
const guardExempt = new Set(["/health/alive", "/health/ready", "/metrics/prometheus"]);

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

export type BunRoutes = Record<string, (req: BunRequest, server: Server<undefined>) => Promise<Response>>;

export interface BuiltRoutes {
  routes: BunRoutes;
  fallback: (req: Request, server: Server<undefined>) => Promise<Response>;
}

export function buildRoutes(table: RouteTable, deps: Deps, policy: ListenerPolicy): BuiltRoutes {
  const ranges: Cidr[] = policy.terminationRanges.map((r) => parseCidr(r)!).filter(Boolean);
  const guard = !policy.unix && ranges.length > 0;
  const log = deps.log.withTag(policy.name);
  const accessLogHealth = !deps.config.serve[policy.name].access_log.disable_for_health;

  const run = async (req: BunRequest, server: Server<undefined>, route: string, handler: Handler | undefined) => {
    const started = performance.now();
    const incoming = req.headers.get("x-request-id");
    const requestId = incoming && requestIdPattern.test(incoming) ? incoming : crypto.randomUUID();
    deps.metrics.requestStarted();
    let res: Response;
    let corsHeaders: Record<string, string> | undefined;
    const ip = policy.unix ? undefined : server.requestIP(req)?.address;
    try {
      const path = new URL(req.url).pathname;
      if (guard && !guardExempt.has(path)) {
        const proto = req.headers.get("x-forwarded-proto");
        if (!inRanges(ip, ranges)) {
          throw new OAuthError("insecure_transport", 502, "Can not serve request over insecure http.", {
            hint: `Plain HTTP is accepted only from a TLS-terminating proxy in serve.tls.allow_termination_from; the peer ${ip ?? "(unknown)"} is not in it.`,
          });
        }
        if (proto !== "https") {
          throw new OAuthError("insecure_transport", 502, "Can not serve request over insecure http.", {
            hint: "The proxy must set X-Forwarded-Proto: https.",
          });
        }
      }
      const cors = policy.cors ? applyCors(req, policy.cors) : undefined;
      if (cors instanceof Response) {
        res = cors;
      } else {
        corsHeaders = cors;
        if (!handler) throw route === "(unmatched)" ? notFound() : methodNotAllowed();
        const cx: Cx = { deps, requestId, log, ip, route, server };
        res = await handler(req, cx);
      }
    } catch (err) {
      res = renderError(err, deps.config, log, requestId);
    }
    if (corsHeaders) for (const [k, v] of Object.entries(corsHeaders)) res.headers.set(k, v);
    res.headers.set("X-Request-Id", requestId);
    const seconds = (performance.now() - started) / 1000;
    deps.metrics.requestFinished(policy.name, req.method, route, res.status, seconds);
    if (accessLogHealth || !route.startsWith("/health/")) {
      // Route template only: paths and queries can carry codes, tokens and ids.
      log.info("request", {
        method: req.method,
        route,
        status: res.status,
        duration_ms: Math.round(seconds * 10000) / 10,
        request_id: requestId,
      });
    }
    return res;
  };

  const routes: BunRoutes = {};
  for (const [path, methods] of Object.entries(table)) {
    routes[path] = (req, server) => run(req, server, path, methods[req.method as Method]);
  }
  return {
    routes,
    fallback: (req, server) => run(req as BunRequest, server, "(unmatched)", undefined),
  };
}
