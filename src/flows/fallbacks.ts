/**
 * @module The fallback pages of the public listener (Hydra oauth2/handler_fallback_endpoints.go),
 * shown when urls.login, urls.consent, urls.logout, urls.post_logout_redirect or urls.error
 * is not set. Every value is HTML-escaped; the pages load nothing and run no script.
 */
import type { Deps } from "../deps.ts";
import type { Handler, RouteTable } from "../server/http.ts";
import { fallbackPaths } from "./urls.ts";

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const headers = {
  "Content-Type": "text/html; charset=utf-8",
  "Cache-Control": "no-store",
  "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

const missingKey = "The request could not be executed because a mandatory configuration key is missing or malformed";

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8"/>
  <title>${escapeHtml(title)}</title>
</head>
<body>
${body}
</body>
</html>
`;
}

function fallback(deps: Deps, key: string, title = missingKey, heading = missingKey): Handler {
  const html = page(
    title,
    `<h1>${escapeHtml(heading)}</h1>
<p>You are seeing this page because configuration key <code>${escapeHtml(key)}</code> is not set.</p>
<p>If you are an administrator, please set it to the URL of your application. If you are a user, please contact the administrator.</p>`,
  );
  return () => {
    deps.log.warn(`A request failed because configuration key "${key}" is missing or malformed.`);
    return new Response(html, { status: 200, headers });
  };
}

/** GET /oauth2/fallbacks/error: shows the error it is given, with status 500 as Hydra. */
function errorFallback(deps: Deps): Handler {
  return (req) => {
    // Debug only: every authorization error ends here while urls.error is unset.
    deps.log.debug("A client requested the default error URL, configuration key urls.error is probably not set.");
    const query = new URL(req.url).searchParams;
    const field = (name: string) => escapeHtml((query.get(name) ?? "").slice(0, 2000));
    const html = page(
      "An OAuth 2.0 Error Occurred",
      `<h1>The OAuth2 request resulted in an error.</h1>
<ul>
  <li>Error: ${field("error")}</li>
  <li>Description: ${field("error_description")}</li>
  <li>Hint: ${field("error_hint")}</li>
  <li>Debug: ${field("error_debug")}</li>
</ul>
<p>You are seeing this page because configuration key <code>urls.error</code> is not set.</p>`,
    );
    return new Response(html, { status: 500, headers });
  };
}

export function fallbackRoutes(deps: Deps): RouteTable {
  return {
    [fallbackPaths.login]: { GET: fallback(deps, "urls.login") },
    [fallbackPaths.consent]: { GET: fallback(deps, "urls.consent") },
    [fallbackPaths.logout]: { GET: fallback(deps, "urls.logout") },
    [fallbackPaths.postLogout]: {
      GET: fallback(
        deps,
        "urls.post_logout_redirect",
        "You logged out successfully!",
        "The Default Post Logout URL is not set which is why you are seeing this fallback page. Your log out request however succeeded.",
      ),
    },
    [fallbackPaths.error]: { GET: errorFallback(deps) },
  };
}
