/**
 * @module What the logout tests share: a server with a logout app configured, relying-party
 * clients with logout URIs, a real HTTP back-channel receiver on 127.0.0.1, a login that
 * yields an ID token (and its sid), and the logout round trip through the logout app.
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from "jose";
import {
  admin,
  Browser,
  createClient,
  jsonInit,
  nonce,
  readResponse,
  runFlow,
  startEnv,
  state,
  verifyIdToken,
  type Env,
  type Stop,
} from "../flows/kit.ts";

export const logoutApp = "https://logout.test/logout";
export const sessionCookie = "oauth2_authentication_session_insecure";

/** The logout app is configured; urls.post_logout_redirect and urls.error are left to the fallbacks. */
export function startLogoutEnv(name: Env["name"], label: string, config: Record<string, unknown> = {}): Promise<Env> {
  return startEnv(name, label, { ...config, urls: { logout: logoutApp, ...((config.urls as object | undefined) ?? {}) } });
}

export function publicUrl(env: Env, path: string): string {
  return new URL(path.slice(1), env.server.deps.config.urls.self.public).toString();
}

export const errorPage = (env: Env) => publicUrl(env, "/oauth2/fallbacks/error");
export const postLogoutFallback = (env: Env) => publicUrl(env, "/oauth2/fallbacks/logout/callback");

export interface Received {
  path: string;
  contentType: string;
  form: URLSearchParams;
  at: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Waits (bounded) until `n` requests reached `path`. */
  waitFor(path: string, n?: number, timeoutMs?: number): Promise<Received[]>;
  stop(): void;
}

/**
 * A relying party's back-channel endpoint: /ok answers 200, /no-content 204, /fail 500,
 * /slow sleeps 10 s before answering 200, anything else 404. Every request is recorded.
 */
export function startReceiver(): Receiver {
  const received: Received[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 30,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      const text = await req.text();
      received.push({ path, contentType: req.headers.get("content-type") ?? "", form: new URLSearchParams(text), at: performance.now() });
      if (path === "/slow") await Bun.sleep(10_000);
      if (path === "/ok" || path === "/slow" || path.startsWith("/ok/")) return new Response("", { status: 200, headers: { "Cache-Control": "no-store" } });
      if (path === "/no-content") return new Response(null, { status: 204 });
      if (path === "/fail") return new Response("nope", { status: 500 });
      return new Response("unknown", { status: 404 });
    },
  });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    received,
    async waitFor(path, n = 1, timeoutMs = 5_000) {
      const deadline = performance.now() + timeoutMs;
      for (let i = 0; i < 1000 && performance.now() < deadline; i++) {
        const hits = received.filter((r) => r.path === path);
        if (hits.length >= n) return hits;
        await Bun.sleep(10);
      }
      throw new Error(`expected ${n} request(s) to ${path} within ${timeoutMs} ms, got ${received.filter((r) => r.path === path).length}`);
    },
    stop: () => void server.stop(true),
  };
}

/** A relying party with a post-logout URI; logout URIs as given. */
export function createRp(env: Env, body: Record<string, unknown> = {}): Promise<Record<string, any>> {
  return createClient(env, {
    response_types: ["id_token", "code", "code id_token"],
    grant_types: ["implicit", "authorization_code"],
    post_logout_redirect_uris: ["https://client.test/logout", "https://client.test/logout?x=1"],
    ...body,
  });
}

export interface LoggedIn {
  idToken: string;
  claims: JWTPayload & Record<string, unknown>;
  sid: string;
}

/** Logs `subject` in to `client` in `browser` (implicit id_token), remembered unless told otherwise. */
export async function login(browser: Browser, client: Record<string, any>, subject: string, loginBody: Record<string, unknown> = { remember: true, remember_for: 3600 }): Promise<LoggedIn> {
  const stop = await runFlow(
    browser,
    { client_id: client.client_id, response_type: "id_token", scope: "openid", state: state(), nonce: nonce(), redirect_uri: client.redirect_uris[0] },
    // Consent remembered, so that a later prompt=none can only fail for want of a login session.
    { login: { subject, ...loginBody }, consent: { grant_scope: ["openid"], remember: true, remember_for: 3600 } },
  );
  const idToken = readResponse(stop).params.id_token;
  if (!idToken) throw new Error(`no ID token: ${stop.status} ${stop.location ?? ""} ${stop.body.slice(0, 200)}`);
  const claims = await verifyIdToken(browser.env, idToken, client.client_id);
  return { idToken, claims, sid: claims.sid as string };
}

export function logoutPath(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `/oauth2/sessions/logout?${s}` : "/oauth2/sessions/logout";
}

/** The logout challenge in a redirect to the logout app. */
export function logoutChallengeOf(res: Response): string {
  const location = res.headers.get("location") ?? "";
  if (res.status !== 302 || !location.startsWith(logoutApp)) throw new Error(`expected a redirect to the logout app, got ${res.status} ${location}`);
  return new URL(location).searchParams.get("logout_challenge")!;
}

export async function acceptLogout(env: Env, challenge: string): Promise<string> {
  const res = await admin(env, `/oauth2/auth/requests/logout/accept?logout_challenge=${encodeURIComponent(challenge)}`, { method: "PUT" });
  if (res.status !== 200) throw new Error(`accept logout: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.redirect_to as string;
}

/**
 * The whole logout: the RP sends the browser to the end-session endpoint, the logout app
 * accepts, the browser follows redirect_to. Returns the final response (redirect or page) and
 * how long that last request took.
 */
export async function logout(browser: Browser, params: Record<string, string | undefined>): Promise<{ res: Response; body: string; ms: number; challenge: string }> {
  const start = await browser.request(logoutPath(params));
  const challenge = logoutChallengeOf(start);
  const redirectTo = await acceptLogout(browser.env, challenge);
  const began = performance.now();
  const res = await browser.request(redirectTo);
  const ms = performance.now() - began;
  return { res, body: await res.text(), ms, challenge };
}

/**
 * A later prompt=none authorization in the same browser. Without a session it fails at once
 * (login_required); with one, the login app sees skip=true and accepts for `subject`.
 */
export async function promptNone(browser: Browser, client: Record<string, any>, subject = "nobody"): Promise<Stop> {
  return runFlow(
    browser,
    { client_id: client.client_id, response_type: "id_token", scope: "openid", state: state(), nonce: nonce(), prompt: "none", redirect_uri: client.redirect_uris[0] },
    { login: { subject }, consent: { grant_scope: ["openid"] } },
  );
}

/** A logout token as a relying party checks it (Back-Channel Logout §2.6) against /.well-known/jwks.json. */
export async function verifyLogoutToken(env: Env, token: string, clientId: string): Promise<JWTPayload & Record<string, unknown>> {
  const jwks = createRemoteJWKSet(new URL(`${env.server.publicUrl}/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: env.server.deps.config.urls.self.issuer,
    audience: clientId,
    typ: "logout+jwt",
    maxTokenAge: "2 minutes",
  });
  if (!protectedHeader.kid) throw new Error("logout token without kid");
  return payload as JWTPayload & Record<string, unknown>;
}

export { decodeProtectedHeader, jsonInit };

/** The value of one series of the metrics endpoint (0 when absent). */
export async function metric(env: Env, series: string): Promise<number> {
  const text = await (await env.server.adminFetch("/metrics/prometheus")).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
