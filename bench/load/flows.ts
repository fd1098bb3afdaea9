/**
 * @module The multi-step load generator (a separate Bun process, started by the harness):
 * complete authorization-code flows with PKCE (W4), refresh-token rotation chains (W5), and
 * minting tokens for the single-request workloads (W7). It speaks to Gatehouse (login and
 * consent accepted through the admin API, as a login/consent app does) or to oidc-provider
 * (the same steps through its interactions API, bench/peer/server.mjs).
 *
 * Usage: bun bench/load/flows.ts '<json FlowsConfig>'; prints one JSON line (FlowsResult).
 * Every loop is bounded by the configured time and a hard cap on operations.
 */

export interface FlowsConfig {
  target: "gatehouse" | "peer";
  mode: "flow" | "refresh" | "mint";
  publicUrl: string;
  /** Gatehouse only. */
  adminUrl?: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scope: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /**
   * flow / refresh: keep measuring past durationMs until this many operations are in, for at
   * most overrunMs more (--quick: a 1 s window on a loaded machine may otherwise end before the
   * first flow does). Default 0: the window is exactly durationMs.
   */
  minOps?: number;
  overrunMs?: number;
  /** mint: how many token sets. */
  count?: number;
}

export interface FlowsResult {
  ops: number;
  errors: number;
  errorSamples: string[];
  durationS: number;
  opsPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** HTTP requests made in the measured window (all steps). */
  httpRequests: number;
  tokens?: { access_token: string; refresh_token?: string }[];
}

/** No loop may run past this many operations, whatever the clock says. */
const maxOps = 5_000_000;

class FlowError extends Error {}

let httpRequests = 0;

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
}

/** A cookie jar for one user agent (one host). */
class Jar {
  private readonly cookies = new Map<string, string>();
  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  store(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(";", 1)[0]!;
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/;\s*max-age=0/i.test(line) || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

async function send(url: string, init: RequestInit & { jar?: Jar } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = init.jar?.header();
  if (cookie) headers.set("Cookie", cookie);
  httpRequests++;
  const res = await fetch(url, { ...init, headers, redirect: "manual", signal: AbortSignal.timeout(10_000) });
  init.jar?.store(res);
  return res;
}

async function expectStatus(res: Response, ok: number[], step: string): Promise<Response> {
  if (!ok.includes(res.status)) {
    const body = await res.text().catch(() => "");
    throw new FlowError(`${step}: HTTP ${res.status} ${body.slice(0, 300)}`);
  }
  return res;
}

async function readJson(res: Response, step: string): Promise<Record<string, any>> {
  try {
    return (await res.json()) as Record<string, any>;
  } catch {
    throw new FlowError(`${step}: body is not JSON`);
  }
}

function locationOf(res: Response, base: string, step: string): URL {
  const loc = res.headers.get("location");
  if (!loc) throw new FlowError(`${step}: HTTP ${res.status} without Location`);
  void res.arrayBuffer().catch(() => {});
  return new URL(loc, base);
}

/** A small pool of PKCE pairs, made once: the verifier need not differ between flows, the codes do. */
async function pkcePairs(n: number): Promise<{ verifier: string; challenge: string }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const verifier = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    out.push({ verifier, challenge: Buffer.from(digest).toString("base64url") });
  }
  return out;
}

const randomId = () => Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString("base64url");

interface TokenSet {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
}

function authorizeQuery(cfg: FlowsConfig, challenge: string, state: string): string {
  return new URLSearchParams({
    client_id: cfg.clientId,
    response_type: "code",
    scope: cfg.scope,
    redirect_uri: cfg.redirectUri,
    state,
    nonce: randomId(),
    code_challenge: challenge,
    code_challenge_method: "S256",
    // oidc-provider grants offline_access only with prompt=consent; Gatehouse shows consent anyway.
    prompt: "consent",
  }).toString();
}

async function exchangeCode(cfg: FlowsConfig, tokenUrl: string, code: string, verifier: string): Promise<TokenSet> {
  const res = await send(tokenUrl, {
    method: "POST",
    headers: { Authorization: basic(cfg.clientId, cfg.clientSecret), "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: cfg.redirectUri, code_verifier: verifier }).toString(),
  });
  await expectStatus(res, [200], "token exchange");
  const body = await readJson(res, "token exchange");
  if (typeof body.access_token !== "string" || typeof body.id_token !== "string") throw new FlowError(`token exchange: no access_token/id_token in ${JSON.stringify(body).slice(0, 200)}`);
  return body as TokenSet;
}

function codeFrom(cfg: FlowsConfig, url: URL, state: string, step: string): string {
  if (!url.toString().startsWith(cfg.redirectUri)) throw new FlowError(`${step}: expected the callback, got ${url.toString().slice(0, 200)}`);
  const code = url.searchParams.get("code");
  if (!code) throw new FlowError(`${step}: callback without code: ${url.search.slice(0, 200)}`);
  if (url.searchParams.get("state") !== state) throw new FlowError(`${step}: state mismatch`);
  return code;
}

/**
 * Gatehouse: authorize → (login app) GET + accept login → authorize again → (consent app)
 * GET + accept consent → authorize again → callback with code → token exchange. 8 requests.
 */
async function gatehouseFlow(cfg: FlowsConfig, pkce: { verifier: string; challenge: string }): Promise<TokenSet> {
  const jar = new Jar();
  const admin = cfg.adminUrl!;
  const state = randomId();
  let res = await send(`${cfg.publicUrl}/oauth2/auth?${authorizeQuery(cfg, pkce.challenge, state)}`, { jar });
  await expectStatus(res, [302, 303], "authorize");
  const loginChallenge = locationOf(res, cfg.publicUrl, "authorize").searchParams.get("login_challenge");
  if (!loginChallenge) throw new FlowError("authorize: no login_challenge");
  const lq = `login_challenge=${encodeURIComponent(loginChallenge)}`;

  res = await expectStatus(await send(`${admin}/oauth2/auth/requests/login?${lq}`), [200], "get login request");
  await res.arrayBuffer();
  res = await send(`${admin}/oauth2/auth/requests/login/accept?${lq}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ subject: "alice" }),
  });
  await expectStatus(res, [200], "accept login");
  const afterLogin = (await readJson(res, "accept login")).redirect_to as string;

  res = await expectStatus(await send(afterLogin, { jar }), [302, 303], "authorize after login");
  const consentChallenge = locationOf(res, afterLogin, "authorize after login").searchParams.get("consent_challenge");
  if (!consentChallenge) throw new FlowError("authorize after login: no consent_challenge");
  const cq = `consent_challenge=${encodeURIComponent(consentChallenge)}`;

  res = await expectStatus(await send(`${admin}/oauth2/auth/requests/consent?${cq}`), [200], "get consent request");
  const consentRequest = await readJson(res, "get consent request");
  res = await send(`${admin}/oauth2/auth/requests/consent/accept?${cq}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      grant_scope: consentRequest.requested_scope,
      grant_access_token_audience: consentRequest.requested_access_token_audience,
    }),
  });
  await expectStatus(res, [200], "accept consent");
  const afterConsent = (await readJson(res, "accept consent")).redirect_to as string;

  res = await expectStatus(await send(afterConsent, { jar }), [302, 303], "authorize after consent");
  const code = codeFrom(cfg, locationOf(res, afterConsent, "authorize after consent"), state, "authorize after consent");
  return exchangeCode(cfg, `${cfg.publicUrl}/oauth2/token`, code, pkce.verifier);
}

/**
 * oidc-provider: /auth → GET interaction + POST login → /auth/:uid → GET interaction + POST
 * consent → /auth/:uid → callback with code → token exchange. 8 requests.
 */
async function peerFlow(cfg: FlowsConfig, pkce: { verifier: string; challenge: string }): Promise<TokenSet> {
  const jar = new Jar();
  const state = randomId();
  let url = `${cfg.publicUrl}/auth?${authorizeQuery(cfg, pkce.challenge, state)}`;
  let res = await expectStatus(await send(url, { jar }), [302, 303], "authorize");
  let interaction = locationOf(res, url, "authorize").toString();

  for (const prompt of ["login", "consent"] as const) {
    res = await expectStatus(await send(interaction, { jar }), [200], `get ${prompt} interaction`);
    const details = await readJson(res, `get ${prompt} interaction`);
    if (details.prompt !== prompt) throw new FlowError(`expected prompt ${prompt}, got ${details.prompt}`);
    res = await expectStatus(await send(`${interaction}/${prompt}`, { method: "POST", jar }), [302, 303], `finish ${prompt}`);
    url = locationOf(res, interaction, `finish ${prompt}`).toString();
    res = await expectStatus(await send(url, { jar }), [302, 303], `authorize after ${prompt}`);
    interaction = locationOf(res, url, `authorize after ${prompt}`).toString();
  }
  const code = codeFrom(cfg, new URL(interaction), state, "authorize after consent");
  return exchangeCode(cfg, `${cfg.publicUrl}/token`, code, pkce.verifier);
}

async function refresh(cfg: FlowsConfig, refreshToken: string): Promise<TokenSet> {
  const tokenUrl = cfg.target === "gatehouse" ? `${cfg.publicUrl}/oauth2/token` : `${cfg.publicUrl}/token`;
  const res = await send(tokenUrl, {
    method: "POST",
    headers: { Authorization: basic(cfg.clientId, cfg.clientSecret), "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken }).toString(),
  });
  await expectStatus(res, [200], "refresh");
  const body = await readJson(res, "refresh");
  if (typeof body.access_token !== "string" || typeof body.refresh_token !== "string") throw new FlowError("refresh: no access_token/refresh_token");
  if (body.refresh_token === refreshToken) throw new FlowError("refresh: the refresh token was not rotated");
  return body as TokenSet;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runFlows(cfg: FlowsConfig): Promise<FlowsResult> {
  const pairs = await pkcePairs(64);
  const flow = (i: number) => (cfg.target === "gatehouse" ? gatehouseFlow(cfg, pairs[i % pairs.length]!) : peerFlow(cfg, pairs[i % pairs.length]!));
  const errorSamples: string[] = [];
  let errors = 0;
  const noteError = (err: unknown) => {
    errors++;
    if (errorSamples.length < 5) errorSamples.push(err instanceof Error ? err.message : String(err));
  };

  if (cfg.mode === "mint") {
    const count = Math.min(cfg.count ?? cfg.concurrency, 10_000);
    const tokens: { access_token: string; refresh_token?: string }[] = [];
    let next = 0;
    const started = performance.now();
    const deadline = started + cfg.durationMs;
    await Promise.all(
      Array.from({ length: Math.min(cfg.concurrency, count) }, async () => {
        while (next < count && performance.now() < deadline) {
          const i = next++;
          try {
            const t = await flow(i);
            tokens.push({ access_token: t.access_token, refresh_token: t.refresh_token });
          } catch (err) {
            noteError(err);
          }
        }
      }),
    );
    const durationS = (performance.now() - started) / 1000;
    return { ops: tokens.length, errors, errorSamples, durationS, opsPerS: tokens.length / durationS, p50Ms: NaN, p99Ms: NaN, httpRequests, tokens };
  }

  // flow / refresh: warm up, then measure for durationMs; operations are timed one by one.
  const latencies = new Float64Array(maxOps);
  let ops = 0;
  let measuring = false;
  let measuredRequestsAtStart = 0;
  const warmupEnd = performance.now() + cfg.warmupMs;
  const end = warmupEnd + cfg.durationMs;
  const minOps = cfg.minOps ?? 0;
  const hardEnd = end + (minOps > 0 ? (cfg.overrunMs ?? 0) : 0);
  /** Where the measured window closes: `end`, or later while fewer than minOps are in. */
  const windowOpen = (t: number) => t <= end || (ops < minOps && t <= hardEnd);
  let windowEnd = end;
  let measureStart = warmupEnd;

  const worker = async (w: number) => {
    let rt: string | undefined;
    let i = w;
    while (windowOpen(performance.now()) && ops < maxOps) {
      try {
        if (cfg.mode === "refresh" && rt === undefined) {
          // Each chain starts from one complete flow (not timed as an operation).
          rt = (await flow(i++)).refresh_token;
          if (!rt) throw new FlowError("the flow issued no refresh token (offline_access?)");
          continue;
        }
        const t0 = performance.now();
        if (cfg.mode === "flow") await flow(i++);
        else rt = (await refresh(cfg, rt!)).refresh_token;
        const t1 = performance.now();
        if (measuring && windowOpen(t1)) {
          latencies[ops++] = t1 - t0;
          if (t1 > windowEnd) windowEnd = t1;
        }
      } catch (err) {
        if (measuring) noteError(err);
        if (cfg.mode === "refresh") rt = undefined;
      }
    }
  };

  const timer = setTimeout(() => {
    measuring = true;
    measureStart = performance.now();
    measuredRequestsAtStart = httpRequests;
  }, cfg.warmupMs);
  if (cfg.warmupMs <= 0) {
    measuring = true;
    measureStart = performance.now();
  }
  await Promise.all(Array.from({ length: cfg.concurrency }, (_, w) => worker(w)));
  clearTimeout(timer);
  if (ops < minOps) windowEnd = hardEnd;
  const durationS = (Math.min(performance.now(), windowEnd) - measureStart) / 1000;
  const sorted = latencies.subarray(0, ops).sort();
  return {
    ops,
    errors,
    errorSamples,
    durationS,
    opsPerS: ops / durationS,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    httpRequests: httpRequests - measuredRequestsAtStart,
  };
}

if (import.meta.main) {
  const cfg = JSON.parse(process.argv[2] ?? "{}") as FlowsConfig;
  const result = await runFlows(cfg);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
