/**
 * @module Shared pieces of the dynamic client registration tests: the two database backends
 * with DCR switched on, request helpers, and a real HTTP server on 127.0.0.1 that serves
 * sector identifier documents.
 */
import { backends, fastHashing, json, type Backend, type Started } from "../clients/backends.ts";

export { backends, json, type Backend, type Started };

export const startTimeout = 60_000;

/** DCR on, bcrypt cost 4 (the hash cost is not what these tests measure). */
export const dcrConfig = { ...fastHashing, oidc: { dynamic_client_registration: { enabled: true } } };

export const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

/** A JSON request with a registration access token. */
export function withToken(token: string, method: string, body?: unknown): RequestInit {
  const init: RequestInit = { method, headers: { ...bearer(token), ...(body === undefined ? {} : { "Content-Type": "application/json" }) } };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  return init;
}

export async function readBody(res: Response): Promise<Record<string, any>> {
  const text = await res.text();
  return text === "" ? {} : (JSON.parse(text) as Record<string, any>);
}

/** Hydra's 401 body for every failed registration-token check (client/.snapshots/...selfservice...json). */
export const unauthorizedBody = {
  error: "The request could not be authorized",
  error_description: "The requested OAuth 2.0 client does not exist or you provided incorrect credentials.",
};

/** Hydra's 403 body for a chosen secret (client/.snapshots/...does_not_allow_setting_the_secret.json). */
export const forbiddenSecretBody = {
  error: "The requested action was forbidden",
  error_description: "It is not allowed to choose your own OAuth2 Client secret.",
};

export interface DocumentServer {
  /** http://127.0.0.1:PORT */
  base: string;
  /** Serves `body` with status 200 (JSON content type) at `path`. */
  set(path: string, body: string): void;
  /** How many requests reached the server so far. */
  hits(): number;
  stop(): void;
}

/**
 * Sector identifier documents over plain HTTP on 127.0.0.1, allowed because test servers
 * run with --dangerous-force-http (loopback only). Fixed paths: /redirect answers 302,
 * /slow answers after 5 s (beyond the 3 s fetch timeout); unknown paths are 404.
 */
export function startDocumentServer(): DocumentServer {
  const docs = new Map<string, string>();
  let count = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      count++;
      const path = new URL(req.url).pathname;
      if (path === "/redirect") return new Response(null, { status: 302, headers: { Location: "/good.json" } });
      if (path === "/slow") {
        await Bun.sleep(5_000);
        return new Response("[]", { headers: { "Content-Type": "application/json" } });
      }
      const body = docs.get(path);
      return body === undefined ? new Response("not here", { status: 404 }) : new Response(body, { headers: { "Content-Type": "application/json" } });
    },
  });
  return {
    base: `http://127.0.0.1:${server.port}`,
    set: (path, body) => void docs.set(path, body),
    hits: () => count,
    stop: () => void server.stop(true),
  };
}

/** A loopback port nothing listens on: bound, then released. */
export function closedPort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}
