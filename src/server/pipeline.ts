/**
 * @module Wraps every route of a listener in the same steps:
 * request id → TLS-termination guard → CORS → handler → error renderer → access log + metrics.
 */
import type { BunRequest, Server } from "bun";
import { LogLevels } from "consola";
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

/** The route label of requests no route matched (one label, so metrics stay bounded). */
const unmatched = "(unmatched)";

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

export type BunRoutes = Record<string, (req: BunRequest, server: Server<undefined>) => Promise<Response>>;

export interface BuiltRoutes {
  routes: BunRoutes;
  fallback: (req: Request, server: Server<undefined>) => Promise<Response>;
}

/** Read-only documents, where a HEAD may run the GET handler. */
function headSafe(path: string): boolean {
  return path.startsWith("/health/") || path.startsWith("/.well-known/") || path === "/version" || path === "/userinfo";
}

/**
 * Bun refuses a declared Content-Length over serve.request_body_limit itself; a chunked body
 * only fails while a handler reads it. That is the client's doing: a 413, not a logged 500.
 */
function tooLarge(err: unknown): OAuthError | undefined {
  // Also when a handler wrapped it as its own server_error (the token endpoint does).
  const e = err instanceof OAuthError && err.status === 500 ? err.cause : err;
  if (!(e instanceof Error) || !/exceeded maxRequestBodySize/.test(e.message)) return undefined;
  return new OAuthError("invalid_request", 413, "The request body is too large.", { hint: "See serve.request_body_limit." });
}

/**
 * A body read that failed because the client closed the connection (a stalled upload cut by
 * serve.idle_timeout, or a client that gave up): the client's doing, so a 400 in the log and
 * the metrics rather than a 500 and an error line; nobody receives it.
 */
function clientGone(req: Request, err: unknown): OAuthError | undefined {
  const e = err instanceof OAuthError && err.status === 500 ? err.cause : err;
  if (!req.signal.aborted || !(e instanceof Error) || e.name !== "AbortError") return undefined;
  return new OAuthError("invalid_request", 400, "The client closed the connection before the request was complete.");
}

export function buildRoutes(table: RouteTable, deps: Deps, policy: ListenerPolicy): BuiltRoutes {
  // A range that does not parse fails here, at start: dropping it could switch the guard off.
  const ranges: Cidr[] = policy.terminationRanges.map((r) => {
    const cidr = parseCidr(r);
    if (!cidr) throw new TypeError(`serve.${policy.name}: "${r}" in allow_termination_from is not a CIDR range`);
    return cidr;
  });
  const guard = !policy.unix && ranges.length > 0;
  const log = deps.log.withTag(policy.name);
  const accessLogHealth = !deps.config.serve[policy.name].access_log.disable_for_health;
  // RFC 9110 §15.5.6: a 405 names the methods the resource does support.
  const allowed = new Map(Object.entries(table).map(([path, methods]) => [path, Object.keys(methods).join(", ")]));

  /** Guard → CORS → handler; every failure becomes the renderer's response. */
  const respond = async (req: BunRequest, server: Server<undefined>, route: string, handler: Handler | undefined, requestId: string) => {
    // The peer address costs a native call per request; only the guard needs it, so handlers read it on demand.
    const peer = () => (policy.unix ? undefined : server.requestIP(req)?.address);
    let res: Response;
    let corsHeaders: Record<string, string> | undefined;
    try {
      // Matched on the route template, not the raw path, so no spelling of a path can reach the exemption.
      if (guard && !guardExempt.has(route)) {
        const ip = peer();
        if (!inRanges(ip, ranges)) {
          throw new OAuthError("insecure_transport", 502, "Can not serve request over insecure http.", {
            hint: `Plain HTTP is accepted only from a TLS-terminating proxy in serve.tls.allow_termination_from; the peer ${ip ?? "(unknown)"} is not in it.`,
          });
        }
        // X-Forwarded-For is never consulted: the client writes it (STYLE convention 9).
        if (req.headers.get("x-forwarded-proto") !== "https") {
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
        if (!handler) throw route === unmatched ? notFound() : methodNotAllowed(undefined, { headers: { Allow: allowed.get(route) ?? "" } });
        const cx: Cx = {
          deps,
          requestId,
          log,
          get ip() {
            return peer();
          },
          route,
          server,
        };
        const out: unknown = await handler(req, cx);
        if (!(out instanceof Response)) throw new TypeError(`the handler of ${req.method} ${route} returned ${typeof out}, not a Response`);
        res = out;
      }
    } catch (err) {
      res = renderError(tooLarge(err) ?? clientGone(req, err) ?? err, deps.config, log, requestId);
    }
    // Errors carry CORS headers too, or a browser cannot read why a call failed.
    if (corsHeaders) {
      for (const [k, v] of Object.entries(corsHeaders)) {
        if (k === "Vary") res.headers.append(k, v);
        else res.headers.set(k, v);
      }
    }
    return res;
  };

  const run = async (req: BunRequest, server: Server<undefined>, route: string, handler: Handler | undefined) => {
    const started = performance.now();
    const incoming = req.headers.get("x-request-id");
    const requestId = incoming && requestIdPattern.test(incoming) ? incoming : crypto.randomUUID();
    deps.metrics.requestStarted();
    let res: Response | undefined;
    try {
      res = await respond(req, server, route, handler, requestId);
      res.headers.set("X-Request-Id", requestId);
    } catch (err) {
      // Only reached if a response's headers refuse changes: answer with a fresh one.
      res = renderError(err, deps.config, log, requestId);
      res.headers.set("X-Request-Id", requestId);
    } finally {
      // In finally, so that the in-flight gauge and the access log never miss a request.
      const status = res?.status ?? 500;
      const seconds = (performance.now() - started) / 1000;
      deps.metrics.requestFinished(policy.name, req.method, route, status, seconds);
      // Checked here, as consola would, so that a level that drops the line does not build it.
      if (log.level >= LogLevels.info && (accessLogHealth || !route.startsWith("/health/"))) {
        // Route template only: paths and queries can carry codes, tokens and ids.
        log.info("request", {
          method: req.method,
          route,
          status,
          duration_ms: Math.round(seconds * 10000) / 10,
          request_id: requestId,
        });
      }
    }
    return res;
  };

  const routes: BunRoutes = {};
  for (const [path, methods] of Object.entries(table)) {
    // HEAD is GET without a body (RFC 9110 §9.3.2; Bun drops the body), but only where GET
    // changes nothing: a HEAD must never start a flow or use up a verifier or challenge.
    const headAsGet = headSafe(path);
    routes[path] = (req, server) =>
      run(req, server, path, methods[(req.method === "HEAD" && headAsGet ? "GET" : req.method) as Method]);
  }
  return {
    routes,
    fallback: (req, server) => run(req as BunRequest, server, unmatched, undefined),
  };
}
