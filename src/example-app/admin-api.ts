/**
 * @module The example app's only way into Gatehouse: the admin API over HTTP(S) or a Unix
 * socket, with exactly the calls an operator's own login/consent/logout app makes (Hydra v1
 * GET and PUT /oauth2/auth/requests/{login,consent,logout}[/accept|/reject]).
 */
import type { TlsMaterial } from "../config/load.ts";

export interface AdminTarget {
  /** http(s)://host:port (no trailing slash) or unix:/path/to/admin.sock */
  endpoint: string;
  /** PEM of our own admin listener's certificate, trusted for this connection only. */
  ca?: string;
}

/** The admin API answered something the app cannot go on with. */
export class AdminApiError extends Error {
  override name = "AdminApiError";
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    super(`${what}: the admin API answered ${status}`);
  }
}

/** The parts of Hydra's OAuth2Client the pages show. */
export interface ClientInfo {
  client_id: string;
  client_name?: string;
  logo_uri?: string;
  policy_uri?: string;
  tos_uri?: string;
  client_uri?: string;
}

export interface LoginRequest {
  challenge: string;
  requested_scope: string[];
  requested_access_token_audience: string[];
  skip: boolean;
  subject: string;
  oidc_context?: { login_hint?: string };
  client: ClientInfo;
}

export interface ConsentRequest {
  challenge: string;
  requested_scope: string[];
  requested_access_token_audience: string[];
  skip: boolean;
  subject: string;
  client: ClientInfo;
}

export interface LogoutRequest {
  challenge?: string;
  subject: string;
  sid: string;
  rp_initiated: boolean;
  client: ClientInfo | null;
}

/** A request, or the URL to send the browser to when it was already answered (410). */
export type Fetched<T> = { request: T } | { handledRedirectTo: string };

export interface AcceptLoginBody {
  subject: string;
  remember?: boolean;
  remember_for?: number;
}

export interface AcceptConsentBody {
  grant_scope: string[];
  grant_access_token_audience: string[];
  remember?: boolean;
  remember_for?: number;
  session?: { access_token?: Record<string, unknown>; id_token?: Record<string, unknown> };
}

export interface RejectBody {
  error: string;
  error_description: string;
}

type Kind = "login" | "consent" | "logout";

/**
 * The admin API of the process that serves the app. `serve all` passes its admin
 * listener's address; `serve public` derives it from serve.admin (the other process).
 * A wildcard bind (0.0.0.0, ::) is reached on loopback.
 */
export function ownAdminTarget(
  admin: { host: string; port: number },
  listenerAddress: string | undefined,
  tls: TlsMaterial | undefined,
): AdminTarget {
  if (admin.host.startsWith("unix:")) return { endpoint: admin.host };
  let endpoint: string;
  if (listenerAddress) {
    const url = new URL(listenerAddress);
    if (["0.0.0.0", "[::]"].includes(url.hostname)) url.hostname = "127.0.0.1";
    endpoint = url.origin;
  } else {
    const host = !admin.host || admin.host === "0.0.0.0" || admin.host === "::" ? "127.0.0.1" : admin.host.includes(":") ? `[${admin.host}]` : admin.host;
    endpoint = `${tls ? "https" : "http"}://${host}:${admin.port}`;
  }
  return { endpoint, ca: endpoint.startsWith("https:") ? tls?.cert : undefined };
}

const timeoutMs = 10_000;

async function call(target: AdminTarget, method: "GET" | "PUT", path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const init: RequestInit & { unix?: string; tls?: Record<string, unknown> } = {
    method,
    headers: { Accept: "application/json", ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  };
  let url: string;
  if (target.endpoint.startsWith("unix:")) {
    init.unix = target.endpoint.slice("unix:".length);
    url = `http://localhost${path}`;
  } else {
    url = `${target.endpoint}${path}`;
    // Our own listener, reached on loopback: its certificate is trusted as is, whatever name it carries.
    if (target.ca) init.tls = { ca: target.ca, checkServerIdentity: () => undefined };
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}

function requestPath(kind: Kind, challenge: string, action?: "accept" | "reject"): string {
  return `/oauth2/auth/requests/${kind}${action ? `/${action}` : ""}?${kind}_challenge=${encodeURIComponent(challenge)}`;
}

/** GET /oauth2/auth/requests/{kind}: 200 the request, 410 already answered (go to redirect_to). */
async function fetchRequest<T>(target: AdminTarget, kind: Kind, challenge: string): Promise<Fetched<T>> {
  const res = await call(target, "GET", requestPath(kind, challenge));
  if (res.status === 200) return { request: res.body as T };
  if (res.status === 410 && typeof res.body?.redirect_to === "string") return { handledRedirectTo: res.body.redirect_to };
  throw new AdminApiError(res.status, res.body, `GET ${kind} request`);
}

/** PUT …/accept or …/reject: where the browser goes next. */
async function answer(target: AdminTarget, kind: Kind, action: "accept" | "reject", challenge: string, body?: unknown): Promise<string> {
  const res = await call(target, "PUT", requestPath(kind, challenge, action), body);
  if (res.status === 200 && typeof res.body?.redirect_to === "string") return res.body.redirect_to;
  throw new AdminApiError(res.status, res.body, `${action} ${kind} request`);
}

export const getLoginRequest = (t: AdminTarget, challenge: string) => fetchRequest<LoginRequest>(t, "login", challenge);
export const acceptLoginRequest = (t: AdminTarget, challenge: string, body: AcceptLoginBody) => answer(t, "login", "accept", challenge, body);
export const rejectLoginRequest = (t: AdminTarget, challenge: string, body: RejectBody) => answer(t, "login", "reject", challenge, body);

export const getConsentRequest = (t: AdminTarget, challenge: string) => fetchRequest<ConsentRequest>(t, "consent", challenge);
export const acceptConsentRequest = (t: AdminTarget, challenge: string, body: AcceptConsentBody) => answer(t, "consent", "accept", challenge, body);
export const rejectConsentRequest = (t: AdminTarget, challenge: string, body: RejectBody) => answer(t, "consent", "reject", challenge, body);

export const getLogoutRequest = (t: AdminTarget, challenge: string) => fetchRequest<LogoutRequest>(t, "logout", challenge);
/** Accepting a logout takes no body; redirect_to redeems the verifier at /oauth2/sessions/logout. */
export const acceptLogoutRequest = (t: AdminTarget, challenge: string) => answer(t, "logout", "accept", challenge);

/** Rejecting a logout answers 204 with nowhere to go: the user stays signed in. */
export async function rejectLogoutRequest(t: AdminTarget, challenge: string): Promise<void> {
  const res = await call(t, "PUT", requestPath("logout", challenge, "reject"));
  if (res.status !== 204) throw new AdminApiError(res.status, res.body, "reject logout request");
}
