/**
 * @module What the flow and authorize tests share: servers on PostgreSQL and PGlite, a
 * browser (a cookie jar that follows redirects by hand), and a test login/consent app
 * that answers through the admin API, as an operator's app would.
 */
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";
import { createTestDatabase, openMigrated } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

export const issuer = "http://127.0.0.1:4444/";
export const loginApp = "https://login.test/login";
export const consentApp = "https://consent.test/consent";

export const baseConfig = {
  oauth2: { hashers: { bcrypt: { cost: 4 } } },
  urls: { self: { issuer }, login: loginApp, consent: consentApp },
};

/** Starting a server (PGlite, first-start keys) takes a few seconds: hooks get this much. */
export const startTimeout = 60_000;

export interface Env {
  name: "PostgreSQL" | "PGlite";
  server: TestServer;
  stop(): Promise<void>;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = cur && typeof cur === "object" && !Array.isArray(cur) && v && typeof v === "object" && !Array.isArray(v) ? merge(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export async function startEnv(name: Env["name"], label: string, config: Record<string, unknown> = {}, mode = {}): Promise<Env> {
  const full = merge(baseConfig, config);
  if (name === "PGlite") {
    const server = await startTestServer({ dsn: "memory", config: full, mode });
    return { name, server, stop: () => server.stop() };
  }
  const pg = await createTestDatabase(label);
  try {
    await (await openMigrated(pg.dsn)).close();
    const server = await startTestServer({ dsn: pg.dsn, config: full, mode });
    return {
      name,
      server,
      async stop() {
        try {
          await server.stop();
        } finally {
          await pg.drop();
        }
      },
    };
  } catch (err) {
    await pg.drop();
    throw err;
  }
}

export const jsonInit = (body: unknown, method = "PUT"): RequestInit => ({
  method,
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body),
});

let clientSeq = 0;

/** Creates a client through the admin API; a public client by default (no secret hashing). */
export async function createClient(env: Env, body: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const res = await env.server.adminFetch(
    "/clients",
    jsonInit(
      {
        client_id: `client-${++clientSeq}-${Math.random().toString(36).slice(2, 8)}`,
        redirect_uris: ["https://client.test/cb"],
        grant_types: ["authorization_code", "implicit", "refresh_token"],
        response_types: ["code", "token", "id_token", "code id_token", "code token", "id_token token", "code id_token token"],
        scope: "openid offline_access profile email",
        token_endpoint_auth_method: "none",
        ...body,
      },
      "POST",
    ),
  );
  if (res.status !== 201) throw new Error(`client creation failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, any>;
}

export interface SetCookie {
  name: string;
  value: string;
  attributes: string[];
}

export interface Hop {
  url: string;
  status: number;
  location?: string;
}

/** Where navigation stopped. */
export interface Stop {
  /** The last response (a redirect leaving our server, or a page). */
  response: Response;
  status: number;
  /** Absolute, when the last response was a redirect. */
  location?: string;
  /** Every request made, in order. */
  hops: Hop[];
  body: string;
}

/** A browser with one cookie jar (one host: our public listener). Redirects on our origin are followed. */
export class Browser {
  readonly cookies = new Map<string, string>();
  readonly setCookies: SetCookie[] = [];

  constructor(readonly env: Env) {}

  /** Our server's URLs name the configured issuer origin; the listener has an ephemeral port. */
  resolve(url: string): string {
    const origin = new URL(this.env.server.deps.config.urls.self.issuer).origin;
    if (url.startsWith(origin)) return this.env.server.publicUrl + url.slice(origin.length);
    if (url.startsWith("/")) return this.env.server.publicUrl + url;
    return url;
  }

  isOurs(url: string): boolean {
    const origin = new URL(this.env.server.deps.config.urls.self.issuer).origin;
    return url.startsWith(origin) || url.startsWith(this.env.server.publicUrl) || url.startsWith("/");
  }

  private store(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";").map((s) => s.trim());
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      this.setCookies.push({ name, value, attributes: attrs });
      if (attrs.some((a) => /^max-age=0$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set("Cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await fetch(this.resolve(url), { ...init, headers, redirect: "manual" });
    this.store(res);
    return res;
  }

  /** Follows redirects while they stay on our server (at most 10). */
  async navigate(url: string, init: RequestInit = {}): Promise<Stop> {
    const hops: Hop[] = [];
    let current = url;
    let currentInit = init;
    for (let i = 0; i < 10; i++) {
      const res = await this.request(current, currentInit);
      const location = res.headers.get("location") ?? undefined;
      hops.push({ url: current, status: res.status, location });
      if (res.status >= 300 && res.status < 400 && location) {
        const absolute = new URL(location, this.resolve(current)).toString();
        if (!this.isOurs(absolute)) return { response: res, status: res.status, location: absolute, hops, body: await res.text() };
        current = absolute;
        currentInit = {};
        continue;
      }
      return { response: res, status: res.status, hops, body: await res.text() };
    }
    throw new Error("too many redirects");
  }
}

export function authPath(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  return `/oauth2/auth?${q}`;
}

/** The challenge in a redirect to the login or consent app. */
export function challengeFrom(stop: Stop, kind: "login" | "consent"): string {
  const base = kind === "login" ? loginApp : consentApp;
  if (!stop.location?.startsWith(base)) throw new Error(`expected a redirect to the ${kind} app, got ${stop.status} ${stop.location ?? ""} ${stop.body.slice(0, 300)}`);
  return new URL(stop.location).searchParams.get(`${kind}_challenge`)!;
}

export async function admin(env: Env, path: string, init?: RequestInit): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await env.server.adminFetch(path, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, body, headers: res.headers };
}

export const q = encodeURIComponent;

/** The login app accepts (GET first, as a real app would) and returns redirect_to. */
export async function acceptLogin(env: Env, challenge: string, body: Record<string, unknown> = { subject: "alice" }): Promise<string> {
  const got = await admin(env, `/oauth2/auth/requests/login?login_challenge=${q(challenge)}`);
  if (got.status !== 200) throw new Error(`GET login request: ${got.status} ${JSON.stringify(got.body)}`);
  const res = await admin(env, `/oauth2/auth/requests/login/accept?login_challenge=${q(challenge)}`, jsonInit(body));
  if (res.status !== 200) throw new Error(`accept login: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.redirect_to as string;
}

export async function acceptConsent(env: Env, challenge: string, body?: Record<string, unknown>): Promise<string> {
  const got = await admin(env, `/oauth2/auth/requests/consent?consent_challenge=${q(challenge)}`);
  if (got.status !== 200) throw new Error(`GET consent request: ${got.status} ${JSON.stringify(got.body)}`);
  const grant = body ?? { grant_scope: got.body.requested_scope, grant_access_token_audience: got.body.requested_access_token_audience };
  const res = await admin(env, `/oauth2/auth/requests/consent/accept?consent_challenge=${q(challenge)}`, jsonInit(grant));
  if (res.status !== 200) throw new Error(`accept consent: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.redirect_to as string;
}

export interface FlowOptions {
  login?: Record<string, unknown>;
  consent?: Record<string, unknown>;
}

/** authorize → login app accepts → consent app accepts → the authorization response. */
export async function runFlow(browser: Browser, params: Record<string, string | undefined>, options: FlowOptions = {}): Promise<Stop> {
  const start = await browser.navigate(authPath(params));
  let stop = start;
  if (stop.location?.startsWith(loginApp)) {
    const redirectTo = await acceptLogin(browser.env, challengeFrom(stop, "login"), options.login ?? { subject: "alice" });
    stop = await browser.navigate(redirectTo);
  }
  if (stop.location?.startsWith(consentApp)) {
    const redirectTo = await acceptConsent(browser.env, challengeFrom(stop, "consent"), options.consent);
    stop = await browser.navigate(redirectTo);
  }
  return stop;
}

export interface AuthorizationResponse {
  mode: "query" | "fragment" | "form_post" | "none";
  params: Record<string, string>;
  /** The redirect URI without the response parameters. */
  target: string;
}

const unescapeHtml = (s: string) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">");

/** Reads the response the client would receive, whatever the mode. */
export function readResponse(stop: Stop): AuthorizationResponse {
  if (stop.status === 200 && /<form method="post"/.test(stop.body)) {
    const action = unescapeHtml(/<form method="post" action="([^"]*)"/.exec(stop.body)![1]!);
    const params: Record<string, string> = {};
    for (const m of stop.body.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)"\/>/g)) params[unescapeHtml(m[1]!)] = unescapeHtml(m[2]!);
    return { mode: "form_post", params, target: action };
  }
  if (!stop.location) return { mode: "none", params: {}, target: "" };
  const url = new URL(stop.location);
  if (url.hash) {
    const params = Object.fromEntries(new URLSearchParams(url.hash.slice(1)));
    url.hash = "";
    return { mode: "fragment", params, target: url.toString() };
  }
  const params = Object.fromEntries(url.searchParams);
  url.search = "";
  return { mode: "query", params, target: url.toString() };
}

const jwksCache = new WeakMap<Env, ReturnType<typeof createRemoteJWKSet>>();

/** Verifies an ID token as a relying party does: signature from /.well-known/jwks.json, iss, aud. */
export async function verifyIdToken(env: Env, token: string, clientId: string): Promise<JWTPayload & Record<string, unknown>> {
  let jwks = jwksCache.get(env);
  if (!jwks) jwksCache.set(env, (jwks = createRemoteJWKSet(new URL(`${env.server.publicUrl}/.well-known/jwks.json`))));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: env.server.deps.config.urls.self.issuer, audience: clientId });
  if (!protectedHeader.kid) throw new Error("ID token without kid");
  return payload as JWTPayload & Record<string, unknown>;
}

/** OIDC Core §3.3.2.11 for RS256/ES256 keys. */
export function halfHash(value: string): string {
  const digest = new Bun.CryptoHasher("sha256").update(value).digest();
  return Buffer.from(digest.subarray(0, 16)).toString("base64url");
}

export const state = () => `state-${crypto.randomUUID()}`;
export const nonce = () => `nonce-${crypto.randomUUID()}`;
