/** @module CORS as Hydra configures it (serve.<iface>.cors.*): origins may be "*" or globs. */
import type { ListenerConfig } from "../config/schema.ts";

export interface CorsPolicy {
  allowedOrigins: readonly string[];
  allowedMethods: readonly string[];
  allowedHeaders: readonly string[];
  exposedHeaders: readonly string[];
  allowCredentials: boolean;
  maxAge: number;
  /** Only these paths get CORS (Hydra's public listener); undefined = every path (admin). */
  paths?: ReadonlySet<string>;
}

export function corsPolicy(cors: ListenerConfig["cors"], paths?: ReadonlySet<string>): CorsPolicy | undefined {
  if (!cors.enabled) return undefined;
  return {
    allowedOrigins: cors.allowed_origins,
    allowedMethods: cors.allowed_methods,
    allowedHeaders: cors.allowed_headers,
    exposedHeaders: cors.exposed_headers,
    allowCredentials: cors.allow_credentials,
    maxAge: cors.max_age,
    paths,
  };
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*");
  return new RegExp(`^${escaped}$`, "i");
}

export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  return allowed.some((pattern) => pattern === "*" || pattern.toLowerCase() === origin.toLowerCase() || (pattern.includes("*") && globToRegExp(pattern).test(origin)));
}

/**
 * For a preflight, the whole response; otherwise the headers to add to the
 * response (or undefined when CORS does not apply to this request).
 */
export function applyCors(req: Request, policy: CorsPolicy): Response | Record<string, string> | undefined {
  const origin = req.headers.get("origin");
  if (!origin) return undefined;
  if (policy.paths && !policy.paths.has(new URL(req.url).pathname)) return undefined;
  // Vary even when refused, so a shared cache never hands one origin's answer to another.
  if (!originAllowed(origin, policy.allowedOrigins)) return { Vary: "Origin" };
  const headers: Record<string, string> = {
    "Access-Control-Allow-Origin": origin,
    Vary: "Origin",
  };
  if (policy.allowCredentials) headers["Access-Control-Allow-Credentials"] = "true";
  const preflight = req.method === "OPTIONS" && req.headers.has("access-control-request-method");
  if (!preflight) {
    if (policy.exposedHeaders.length) headers["Access-Control-Expose-Headers"] = policy.exposedHeaders.join(", ");
    return headers;
  }
  headers["Access-Control-Allow-Methods"] = policy.allowedMethods.join(", ");
  headers["Access-Control-Allow-Headers"] = policy.allowedHeaders.join(", ");
  if (policy.maxAge > 0) headers["Access-Control-Max-Age"] = String(policy.maxAge);
  return new Response(null, { status: 204, headers });
}
