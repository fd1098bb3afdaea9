/**
 * @module How an authorization response (or error) reaches the client: in the redirect
 * URI's query, in its fragment (OAuth 2.0 Multiple Response Type Encoding §2), or as an
 * auto-submitting HTML form (OAuth 2.0 Form Post Response Mode §2), plus the OIDC default
 * mode per response type. Only called once the redirect URI is validated.
 */
import { createHash } from "node:crypto";
import type { Config } from "../config/schema.ts";
import type { OAuthError } from "../errors.ts";
import { errorBody } from "../server/render-error.ts";

export const responseModes = ["query", "fragment", "form_post"] as const;
export type ResponseMode = (typeof responseModes)[number];

export function isResponseMode(value: string): value is ResponseMode {
  return (responseModes as readonly string[]).includes(value);
}

/** Where and how to answer: known once the client and its redirect URI are validated. */
export interface ResponseTarget {
  redirectUri: string;
  responseMode: ResponseMode;
  /** Echoed as `state` in every response and error (RFC 6749 §4.1.2). */
  state: string | undefined;
}

/**
 * Multiple Response Type Encoding §5: `code` alone answers in the query; anything that
 * returns a token from this endpoint answers in the fragment. With no valid response type
 * (e.g. a missing one) an error goes in the query, as for the code flow.
 */
export function defaultResponseMode(responseTypes: readonly string[]): ResponseMode {
  if (responseTypes.length === 0) return "query";
  return responseTypes.length === 1 && responseTypes[0] === "code" ? "query" : "fragment";
}

/** Whether the response carries a token, so it must never travel in a query (Multiple Response Type Encoding §3). */
export function carriesTokens(responseTypes: readonly string[]): boolean {
  return responseTypes.includes("token") || responseTypes.includes("id_token");
}

const noStoreHeaders = { "Cache-Control": "no-store", Pragma: "no-cache" };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const autoSubmit = "document.forms[0].submit();";
/** The one script the page may run, allowed by its hash (CSP Level 2 hash source). */
const autoSubmitHash = `'sha256-${createHash("sha256").update(autoSubmit).digest("base64")}'`;

/**
 * The form's target for CSP form-action: the origin for http(s) (no path characters can
 * break the header), the bare scheme for private-use schemes (RFC 8252 §7.1).
 */
function formActionSource(redirectUri: string): string {
  const url = new URL(redirectUri);
  return url.protocol === "http:" || url.protocol === "https:" ? url.origin : url.protocol;
}

/**
 * Form Post Response Mode §2: an HTML page that POSTs the parameters to the redirect URI.
 * Every value is HTML-escaped; the CSP allows only the auto-submit script and a form
 * posting to the client; the page is never cached or framed.
 */
function formPost(redirectUri: string, params: [string, string][]): Response {
  const inputs = params.map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}"/>`).join("\n      ");
  const html = `<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8"/>
    <title>Submit This Form</title>
  </head>
  <body>
    <form method="post" action="${escapeHtml(redirectUri)}">
      ${inputs}
      <noscript><button type="submit">Continue</button></noscript>
    </form>
    <script>${autoSubmit}</script>
  </body>
</html>
`;
  return new Response(html, {
    status: 200,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      ...noStoreHeaders,
      "Content-Security-Policy": `default-src 'none'; script-src ${autoSubmitHash}; form-action ${formActionSource(redirectUri)}; frame-ancestors 'none'; base-uri 'none'`,
      "Referrer-Policy": "no-referrer",
      "X-Content-Type-Options": "nosniff",
    },
  });
}

/** 303 as fosite (a POSTed authorization request is followed by a GET to the client). */
function redirect(location: string, headers: Record<string, string>): Response {
  return new Response(null, { status: 303, headers: { Location: location, ...noStoreHeaders, "Referrer-Policy": "no-referrer", ...headers } });
}

/**
 * Sends `params` to the client in the target's response mode. `headers` (e.g. Set-Cookie)
 * are added to the response. Parameters with an empty value are left out.
 */
export function authorizationResponse(target: ResponseTarget, params: Record<string, string | undefined>, extraHeaders?: Headers): Response {
  const entries = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== "");
  let res: Response;
  switch (target.responseMode) {
    case "form_post":
      res = formPost(target.redirectUri, entries);
      break;
    case "fragment": {
      const url = new URL(target.redirectUri);
      url.hash = "";
      res = redirect(`${url.toString().replace(/#$/, "")}#${new URLSearchParams(entries).toString()}`, {});
      break;
    }
    default: {
      // Parameters the registered URI already has stay (RFC 6749 §3.1.2); ours replace same-named ones.
      const url = new URL(target.redirectUri);
      for (const [k, v] of entries) url.searchParams.set(k, v);
      res = redirect(url.toString(), {});
    }
  }
  if (extraHeaders) for (const [k, v] of extraHeaders) res.headers.append(k, v);
  return res;
}

/** RFC 6749 §4.1.2.1 / §4.2.2.1 error response, in the body format of render-error.ts (hint folded in unless legacy). */
export function authorizationErrorResponse(
  target: ResponseTarget,
  err: OAuthError,
  config: Pick<Config, "oauth2">,
  extraHeaders?: Headers,
): Response {
  const body = errorBody(err, config.oauth2) as Record<string, string | number | undefined>;
  const params: Record<string, string | undefined> = {
    error: String(body.error),
    error_description: body.error_description === undefined ? undefined : String(body.error_description),
    error_hint: body.error_hint === undefined ? undefined : String(body.error_hint),
    error_debug: body.error_debug === undefined ? undefined : String(body.error_debug),
    state: target.state,
  };
  return authorizationResponse(target, params, extraHeaders);
}
