/**
 * @module oauth2.refresh_token_hook (Hydra v1.11 oauth2/hook.go, hydra-v1 §3.2): before a
 * refresh token is rotated, POST what is being refreshed to the operator's endpoint; a 200
 * answer {"session":{"access_token":{…},"id_token":{…}}} replaces the access token's `ext`
 * and the ID token's extra claims for the new tokens (and those after them). 204 keeps the
 * session as it is. 403 refuses the refresh with access_denied; anything else (another
 * status, a body that is not such JSON, no answer within refreshHookTimeoutMs) is a
 * server_error, as in Hydra: the client may retry, its refresh token is not spent. RFC 6749
 * §5.2 lists no temporarily_unavailable for the token endpoint, so it is not used here.
 */
import type { Deps } from "../deps.ts";
import { accessDenied, serverError } from "../errors.ts";
import { idTokenExtras, withSessionClaims } from "./grant-session.ts";
import type { TokenSession } from "./tokens.ts";

/** Short: the client waits on it, and a slow hook holds nothing else (the refresh is not claimed yet). */
export const refreshHookTimeoutMs = 5_000;

/** Bound on the hook's answer: it carries claims, not documents. */
const maxResponseBytes = 1024 * 1024;

export interface RefreshHookInput {
  /** The local subject. */
  subject: string;
  clientId: string;
  /** The client's grant types (Hydra's requester.grant_types). */
  clientGrantTypes: readonly string[];
  grantedScopes: readonly string[];
  grantedAudience: readonly string[];
  session: TokenSession;
}

/**
 * The request body: Hydra's fields, and the session in the shape of Hydra's oauth2.Session
 * (id_token.id_token_claims with the extras under `ext`, `extra` = the access token's ext).
 */
export function refreshHookBody(input: RefreshHookInput) {
  const idClaims = input.session.idToken ?? {};
  const { sub, ...claims } = idClaims;
  return {
    subject: input.subject,
    client_id: input.clientId,
    granted_scopes: [...input.grantedScopes],
    granted_audience: [...input.grantedAudience],
    session: {
      id_token: {
        id_token_claims: { ...pick(claims, ["auth_time", "rat", "acr", "amr", "sid"]), ...(sub !== undefined ? { sub } : {}), ext: idTokenExtras(idClaims) },
        subject: input.subject,
        username: input.session.username ?? "",
      },
      extra: input.session.ext,
      client_id: input.clientId,
      consent_challenge: input.session.consentChallenge ?? "",
    },
    requester: {
      client_id: input.clientId,
      granted_scopes: [...input.grantedScopes],
      granted_audience: [...input.grantedAudience],
      grant_types: [...input.clientGrantTypes],
    },
  };
}

function pick(obj: Record<string, unknown>, names: string[]): Record<string, unknown> {
  return Object.fromEntries(names.filter((n) => obj[n] !== undefined).map((n) => [n, obj[n]]));
}

/** server_error; the reason is the cause, so the operator's log says what the hook did. */
function hookFailure(reason: string) {
  return serverError(undefined, { debug: reason, cause: new Error(reason) });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Calls the hook when one is configured and returns the session the new tokens carry. Throws
 * access_denied (403 from the hook) or server_error (anything else; the cause goes to the log,
 * never to the client unless oauth2.expose_internal_errors).
 */
export async function runRefreshHook(deps: Pick<Deps, "config">, input: RefreshHookInput): Promise<TokenSession> {
  const url = deps.config.oauth2.refresh_token_hook;
  if (!url) return input.session;
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(refreshHookBody(input)),
      redirect: "manual",
      signal: AbortSignal.timeout(refreshHookTimeoutMs),
    });
  } catch (err) {
    throw serverError(undefined, { debug: `refresh token hook: ${(err as Error).name === "TimeoutError" ? `no answer within ${refreshHookTimeoutMs} ms` : (err as Error).message}`, cause: err });
  }
  if (res.status === 403) {
    await res.body?.cancel().catch(() => {});
    throw accessDenied(undefined, { debug: "refresh token hook: 403 Forbidden" });
  }
  if (res.status === 204) return input.session;
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    throw hookFailure(`refresh token hook: ${res.status} ${res.statusText}`);
  }
  let body: unknown;
  try {
    const text = await res.text();
    if (text.length > maxResponseBytes) throw new Error(`answer larger than ${maxResponseBytes} bytes`);
    body = JSON.parse(text);
  } catch (err) {
    throw hookFailure(`refresh token hook: unreadable answer: ${(err as Error).message}`);
  }
  const session = isObject(body) ? body.session : undefined;
  if (!isObject(session)) throw hookFailure('refresh token hook: the answer has no "session" object');
  const accessToken = session.access_token ?? {};
  const idToken = session.id_token ?? {};
  if (!isObject(accessToken) || !isObject(idToken)) {
    throw hookFailure('refresh token hook: "session.access_token" and "session.id_token" must be objects');
  }
  // As Hydra: the answer replaces both (a missing one means empty).
  return withSessionClaims(input.session, { accessToken, idToken });
}
