/**
 * @module What the grant tests share: a server whose issuer is its own public URL (so that
 * openid-client's discovery accepts it), on PostgreSQL or PGlite; the test browser and
 * login/consent app of test/flows/kit.ts; and one helper that runs a whole authorization
 * code flow with openid-client as the relying party.
 */
import * as oidc from "openid-client";
import { Browser, createClient as createFlowClient, runFlow, startEnv, type Env, type FlowOptions, type Stop } from "../flows/kit.ts";

export { Browser, runFlow, type Env };

export const redirectUri = "https://client.test/cb";

function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

export interface GrantEnv extends Env {
  issuer: string;
}

/** A server on `backend` whose issuer is http://127.0.0.1:<its public port>/. */
export async function startGrantEnv(backend: Env["name"], label: string, config: Record<string, unknown> = {}): Promise<GrantEnv> {
  const port = freePort();
  const issuer = `http://127.0.0.1:${port}/`;
  const serve = (config.serve ?? {}) as Record<string, Record<string, unknown>>;
  const env = await startEnv(backend, label, { ...config, urls: { self: { issuer } }, serve: { ...serve, public: { ...serve.public, port } } });
  return { ...env, issuer };
}

/** A client for code flows: public with PKCE unless `body` says otherwise; offline_access and refresh_token allowed. */
export function createClient(env: Env, body: Record<string, unknown> = {}): Promise<Record<string, any>> {
  return createFlowClient(env, {
    grant_types: ["authorization_code", "refresh_token", "implicit"],
    scope: "openid offline_access offline profile email",
    ...body,
  });
}

/** openid-client's Configuration for a client of this server (plain http allowed: the listener is on 127.0.0.1). */
export function discover(env: GrantEnv, clientId: string, auth: oidc.ClientAuth = oidc.None(), metadata: Partial<oidc.ClientMetadata> = {}, extra: ((c: oidc.Configuration) => void)[] = []) {
  return oidc.discovery(new URL(env.issuer), clientId, metadata, auth, { execute: [oidc.allowInsecureRequests, ...extra] });
}

export interface CodeFlow {
  /** Where the browser was sent back to the client (the callback URL with code, state …). */
  callback: URL;
  stop: Stop;
  state: string;
  nonce: string;
  verifier: string;
}

/**
 * authorize (URL built by openid-client, PKCE S256, state, nonce) → the login app accepts →
 * the consent app accepts → the redirect to the client. `params` are added to the request.
 */
export async function authorize(
  env: GrantEnv,
  config: oidc.Configuration,
  params: Record<string, string> = {},
  options: FlowOptions = {},
  browser = new Browser(env),
): Promise<CodeFlow> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: "openid offline_access profile",
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    ...params,
  });
  const stop = await runFlow(browser, Object.fromEntries(url.searchParams), { login: { subject: "alice" }, ...options });
  if (!stop.location?.startsWith(redirectUri)) throw new Error(`the flow did not come back to the client: ${stop.status} ${stop.location ?? ""} ${stop.body.slice(0, 300)}`);
  return { callback: new URL(stop.location), stop, state, nonce, verifier };
}

/** The code of a finished flow. */
export const codeOf = (flow: CodeFlow) => flow.callback.searchParams.get("code")!;

/** authorize + token with openid-client: what a relying party gets. */
export async function codeFlow(env: GrantEnv, config: oidc.Configuration, params: Record<string, string> = {}, options: FlowOptions = {}) {
  const flow = await authorize(env, config, params, options);
  const tokens = await oidc.authorizationCodeGrant(config, flow.callback, {
    pkceCodeVerifier: flow.verifier,
    expectedState: flow.state,
    expectedNonce: flow.nonce,
  });
  return { flow, tokens };
}

export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, any>;
  text: string;
}

async function reply(res: Response): Promise<Reply> {
  const text = await res.text();
  let body: Record<string, any> = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** A raw token request (form-encoded), for what openid-client would refuse to send or to read. */
export async function token(env: Env, params: Record<string, string>, headers: Record<string, string> = {}): Promise<Reply> {
  return reply(
    await env.server.publicFetch("/oauth2/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(params).toString(),
    }),
  );
}

export async function introspect(env: Env, tokenValue: string): Promise<Record<string, any>> {
  const res = await env.server.adminFetch("/oauth2/introspect", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: tokenValue }).toString(),
  });
  return (await res.json()) as Record<string, any>;
}

export async function userinfoRequest(env: Env, init: RequestInit = {}, query = ""): Promise<Reply> {
  return reply(await env.server.publicFetch(`/userinfo${query}`, init));
}

export function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString("base64")}`;
}

/** The ResponseBodyError openid-client throws for an OAuth error response, or the error itself. */
export async function oauthError(promise: Promise<unknown>): Promise<{ error?: string; status?: number; description?: string }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof oidc.ResponseBodyError) return { error: err.error, status: err.status, description: err.error_description };
    throw err;
  }
  throw new Error("expected an OAuth error, got a success");
}
