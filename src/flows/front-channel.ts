/**
 * @module OpenID Connect Front-Channel Logout 1.0: the URL each client's
 * frontchannel_logout_uri is loaded with (§2: `iss` and `sid` added when the client set
 * frontchannel_logout_session_required; Hydra adds them always), and the page that loads
 * them in hidden iframes and then sends the browser on (§3, Hydra's logout page: after every
 * iframe loaded plus 500 ms, at the latest after 7 s). Every value is HTML-escaped and the
 * Content-Security-Policy lets the page frame exactly those origins and run only its own script.
 */
import { createHash } from "node:crypto";
import type { OAuth2Client } from "../clients/types.ts";

/** After the last iframe loaded, as Hydra. */
export const frontchannelSettleMs = 500;
/** The browser moves on after this even if an iframe never loads (Hydra: 7 s). */
export const frontchannelFallbackMs = 7_000;

/**
 * Origins allowed in frame-src. A URL parser accepts hosts with ";" or "," (which would end or
 * split a CSP directive), so only plain host names, IPv4 and bracketed IPv6 are let through.
 */
const cspOrigin = /^https?:\/\/(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

export interface FrontchannelFrame {
  clientId: string;
  url: string;
  origin: string;
}

/**
 * The URL to load for a client, or undefined when its frontchannel_logout_uri cannot be
 * framed safely (not http(s), or a host no CSP source expression can name).
 */
export function frontchannelLogoutFrame(
  client: Pick<OAuth2Client, "clientId" | "frontchannelLogoutUri" | "frontchannelLogoutSessionRequired">,
  issuer: string,
  sid: string,
): FrontchannelFrame | undefined {
  if (!client.frontchannelLogoutUri) return undefined;
  let url: URL;
  try {
    url = new URL(client.frontchannelLogoutUri);
  } catch {
    return undefined;
  }
  if (!cspOrigin.test(url.origin)) return undefined;
  // Front-Channel Logout §2: both or neither, and only for a client that asks for them.
  if (client.frontchannelLogoutSessionRequired) {
    url.searchParams.set("iss", issuer);
    url.searchParams.set("sid", sid);
  }
  return { clientId: client.clientId, url: url.toString(), origin: url.origin };
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The page's only script. It reads the target from the link (an escaped attribute), never
 * from script text, so no value of a request can become code.
 */
const script = `(function () {
  var target = document.getElementById("continue").href;
  var frames = document.getElementsByTagName("iframe");
  var left = frames.length;
  var done = false;
  function go() { if (!done) { done = true; window.location.replace(target); } }
  function loaded() { left -= 1; if (left <= 0) { window.setTimeout(go, ${frontchannelSettleMs}); } }
  for (var i = 0; i < frames.length; i++) { frames[i].addEventListener("load", loaded); }
  window.setTimeout(go, ${frontchannelFallbackMs});
})();`;

const scriptHash = `'sha256-${createHash("sha256").update(script).digest("base64")}'`;

/** The front-channel logout page: 200 HTML with its headers (the caller adds Set-Cookie). */
export function frontchannelLogoutPage(frames: readonly FrontchannelFrame[], redirectTo: string): { body: string; headers: Headers } {
  const origins = [...new Set(frames.map((f) => f.origin))];
  const target = escapeHtml(redirectTo);
  const body = `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8"/>
  <title>Logging out</title>
  <noscript><meta http-equiv="refresh" content="${Math.ceil(frontchannelFallbackMs / 1000)}; url=${target}"/></noscript>
</head>
<body>
<p>You are being logged out. <a id="continue" href="${target}">Continue</a></p>
${frames.map((f) => `<iframe src="${escapeHtml(f.url)}" hidden title="logout"></iframe>`).join("\n")}
<script>${script}</script>
</body>
</html>
`;
  const headers = new Headers({
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    Pragma: "no-cache",
    "Content-Security-Policy": [
      "default-src 'none'",
      `script-src ${scriptHash}`,
      `frame-src ${origins.join(" ")}`,
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'none'",
    ].join("; "),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  });
  return { body, headers };
}
