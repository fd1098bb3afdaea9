/**
 * @module What the oauth2 tests share: a server whose issuer is its real public URL (so that
 * openid-client's discovery accepts it), one per backend, and small request helpers.
 */
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

export type BackendName = "postgres" | "pglite";

export interface OAuthServer {
  server: TestServer;
  /** The issuer, http://127.0.0.1:<public port>/ */
  issuer: string;
  /** `${issuer}oauth2/token` */
  tokenUrl: string;
  stop(): Promise<void>;
}

/** bcrypt cost 4 keeps tests quick where the hash cost is not what is tested. */
export const fastHashing = { oauth2: { hashers: { bcrypt: { cost: 4 } } } };

function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      typeof cur === "object" && cur && !Array.isArray(cur) && typeof v === "object" && v && !Array.isArray(v)
        ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/**
 * Starts a server on PostgreSQL (a fresh database, dropped by stop()) or an in-memory PGlite,
 * with the issuer set to its own public URL.
 */
export async function startOAuthServer(backend: BackendName, label: string, config: Record<string, unknown> = {}): Promise<OAuthServer> {
  let pg: TestDatabase | undefined;
  if (backend === "postgres") {
    pg = await createTestDatabase(label);
    await (await openMigrated(pg.dsn)).close();
  }
  try {
    // The issuer must be the URL discovery is fetched from; the port is picked first.
    const port = freePort();
    const issuer = `http://127.0.0.1:${port}/`;
    const server = await startTestServer({
      dsn: pg ? pg.dsn : "memory",
      config: merge(merge(fastHashing, { urls: { self: { issuer } }, serve: { public: { port } } }), config),
    });
    return {
      server,
      issuer,
      tokenUrl: `${issuer}oauth2/token`,
      async stop() {
        try {
          await server.stop();
        } finally {
          await pg?.drop();
        }
      },
    };
  } catch (err) {
    await pg?.drop();
    throw err;
  }
}

/** Creates a client through the admin API; returns Hydra's JSON (with client_secret when set). */
export async function createClient(server: TestServer, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await server.adminFetch("/clients", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`creating client failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/** RFC 6749 §2.3.1 Basic credentials: form-urlencoded id and secret. */
export function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString("base64")}`;
}

export function form(params: Record<string, string> | [string, string][] | string, headers: Record<string, string> = {}): RequestInit {
  return {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    body: typeof params === "string" ? params : new URLSearchParams(params).toString(),
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

async function reply(res: Response): Promise<Reply> {
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // keep {}
  }
  return { status: res.status, headers: res.headers, body, text };
}

export async function tokenRequest(server: TestServer, init: RequestInit): Promise<Reply> {
  return reply(await server.publicFetch("/oauth2/token", init));
}

export async function introspect(server: TestServer, token: string, extra: Record<string, string> = {}): Promise<Reply> {
  return reply(await server.adminFetch("/oauth2/introspect", form({ token, ...extra })));
}

export async function revoke(server: TestServer, token: string, authorization: string): Promise<Reply> {
  return reply(await server.publicFetch("/oauth2/revoke", form({ token }, { Authorization: authorization })));
}

/** Gets a client_credentials token with Basic credentials; throws unless 200. */
export async function clientCredentials(server: TestServer, id: string, secret: string, params: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await tokenRequest(server, form({ grant_type: "client_credentials", ...params }, { Authorization: basic(id, secret) }));
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${res.text}`);
  return res.body;
}

export const invalidClientDescription =
  "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).";
export const invalidRequestDescription =
  "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.";
