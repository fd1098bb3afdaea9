/**
 * @module The example login, consent and logout app (on with `--dev` or example_app.enabled),
 * served under /example/ on the public listener. It is written as an operator's own app
 * would be: it knows Gatehouse only through the admin API (admin-api.ts), and each page
 * does what Hydra's login/consent protocol asks of it (spec §2.2 steps 2 and 5, §2.5):
 *
 *   GET  /example/login?login_challenge=…     skip → accept at once; else the login form
 *   POST /example/login                       check the password → accept, or deny → reject
 *   GET  /example/consent?consent_challenge=… skip → accept at once; else the consent form
 *   POST /example/consent                     the ticked scopes and audiences → accept, or reject
 *   GET  /example/logout?logout_challenge=…   the logout confirmation
 *   POST /example/logout                      yes → accept, no → reject
 *
 * Every answer ends with the browser sent to the `redirect_to` Gatehouse returned.
 */
import type { Logger } from "../lib/log.ts";
import type { Handler, RouteTable } from "../server/http.ts";
import {
  acceptConsentRequest,
  acceptLoginRequest,
  acceptLogoutRequest,
  AdminApiError,
  getConsentRequest,
  getLoginRequest,
  getLogoutRequest,
  rejectConsentRequest,
  rejectLoginRequest,
  rejectLogoutRequest,
  type AdminTarget,
  type ClientInfo,
} from "./admin-api.ts";
import { createCsrf, csrfField, type Csrf } from "./csrf.ts";
import { checkCredentials, demoUser, idTokenClaims } from "./demo-user.ts";
import { errorPage, escapeHtml, page, redirect } from "./html.ts";
import { exampleAppPaths } from "./paths.ts";

export interface ExampleAppOptions {
  /** Asked per request: in `serve all` the admin listener opens after the public one. */
  admin: () => AdminTarget;
  /** urls.self.public: the CSRF cookie's path and Secure flag follow it. */
  publicUrl: string;
  log: Logger;
}

/** How long Gatehouse remembers a login or a consent the user asked it to remember. */
const rememberForSeconds = 3600;

const denied = { error: "access_denied", error_description: "The resource owner denied the request" };

/** What the consent page says about well-known scopes; any other scope is shown by name. */
const scopeDescriptions: Record<string, string> = {
  openid: "Sign you in with your account",
  offline_access: "Stay signed in when you are away (a refresh token)",
  offline: "Stay signed in when you are away (a refresh token)",
  profile: "Your name and profile",
  email: "Your email address",
};

class BadForm extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const maxFormBytes = 16 * 1024;

/** The posted form; anything but a small urlencoded form is a 4xx page. */
async function readForm(req: Request): Promise<URLSearchParams> {
  if (!(req.headers.get("content-type") ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    throw new BadForm(415, "This page accepts only its own form (application/x-www-form-urlencoded).");
  }
  const text = await req.text();
  if (text.length > maxFormBytes) throw new BadForm(413, "The form is too large.");
  return new URLSearchParams(text);
}

function challengeOf(value: string | null, kind: string): string {
  if (!value) {
    throw new BadForm(400, `This page is opened by Gatehouse with a ${kind}_challenge. Start at a client's authorization URL (for example with "gatehouse token user").`);
  }
  if (value.length > 256) throw new BadForm(400, `The ${kind}_challenge is too long.`);
  return value;
}

/** Turns what can go wrong into a page: bad input (4xx), unknown challenge (404), admin API trouble (502). */
function guarded(log: Logger, handler: Handler): Handler {
  return async (req, cx) => {
    try {
      return await handler(req, cx);
    } catch (err) {
      if (err instanceof BadForm) return errorPage(err.status, "This request cannot be answered", err.message);
      if (err instanceof AdminApiError && err.status === 404) {
        return errorPage(404, "This request is unknown", "It was never issued or has been withdrawn. Start again at the application you came from.");
      }
      if (err instanceof AdminApiError && (err.status === 409 || err.status === 410)) {
        return errorPage(409, "This request was already answered", "Start again at the application you came from.");
      }
      // Only the status reaches the log: challenges and bodies stay out of it.
      log.warn(`example app: ${err instanceof AdminApiError ? err.message : `admin API unreachable (${(err as Error).name})`}`);
      return errorPage(502, "Gatehouse could not be reached", "The example app could not talk to Gatehouse's admin API. Try again in a moment.");
    }
  };
}

/**
 * The client's logo and links (website, policy, terms) beside its name; nothing when it has
 * none of them, since the page's text names the client anyway.
 */
function clientBlock(client: ClientInfo | null | undefined): { html: string; imageOrigin?: string } {
  if (!client) return { html: "" };
  const name = client.client_name || client.client_id;
  let logo = "";
  let imageOrigin: string | undefined;
  const logoUrl = httpUrl(client.logo_uri);
  if (logoUrl) {
    imageOrigin = logoUrl.origin;
    logo = `<img src="${escapeHtml(logoUrl.toString())}" alt="" referrerpolicy="no-referrer">`;
  }
  const links = [
    ["client_uri", "Website"],
    ["policy_uri", "Privacy policy"],
    ["tos_uri", "Terms of service"],
  ]
    .map(([key, label]) => {
      const url = httpUrl(client[key as keyof ClientInfo] as string | undefined);
      return url ? `<a href="${escapeHtml(url.toString())}" rel="noopener noreferrer">${label}</a>` : "";
    })
    .filter(Boolean)
    .join(" · ");
  if (!logo && !links) return { html: "" };
  return {
    html: `<div class="client">${logo}<div><strong>${escapeHtml(name)}</strong>${links ? `<br><span class="hint">${links}</span>` : ""}</div></div>`,
    imageOrigin,
  };
}

function httpUrl(value: string | undefined): URL | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url : undefined;
  } catch {
    return undefined;
  }
}

function hidden(name: string, value: string): string {
  return `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;
}

function checkbox(name: string, value: string, label: string, description = "", checked = true): string {
  return `<label class="check"><input type="checkbox" name="${escapeHtml(name)}" value="${escapeHtml(value)}"${checked ? " checked" : ""}><span>${escapeHtml(label)}${description ? `<small>${escapeHtml(description)}</small>` : ""}</span></label>`;
}

interface LoginFormInput {
  challenge: string;
  client: ClientInfo;
  email: string;
  error?: string;
  status?: number;
}

function loginPage(req: Request, csrf: Csrf, input: LoginFormInput): Response {
  const { token, setCookie } = csrf.issue(req, input.challenge);
  const client = clientBlock(input.client);
  return page({
    title: "Sign in",
    status: input.status,
    imageOrigin: client.imageOrigin,
    headers: setCookie ? { "Set-Cookie": setCookie } : undefined,
    body: `<h1>Sign in</h1>
${client.html}
<p>to continue to <strong>${escapeHtml(input.client.client_name || input.client.client_id)}</strong>.</p>
${input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : ""}
<form method="post" action="login">
${hidden("challenge", input.challenge)}
${hidden(csrfField, token)}
<label for="email">Email</label>
<input type="email" id="email" name="email" value="${escapeHtml(input.email)}" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
${checkbox("remember", "1", "Remember me", "Stay signed in on this browser for an hour", false)}
<div class="actions">
<button type="submit" name="action" value="accept" class="primary">Sign in</button>
<button type="submit" name="action" value="reject" formnovalidate>Deny</button>
</div>
</form>
<p class="hint">Demo user: <code>${escapeHtml(demoUser.email)}</code> / <code>${escapeHtml(demoUser.password)}</code></p>`,
  });
}

interface ConsentFormInput {
  challenge: string;
  client: ClientInfo;
  subject: string;
  scopes: string[];
  audiences: string[];
}

function consentPage(req: Request, csrf: Csrf, input: ConsentFormInput): Response {
  const { token, setCookie } = csrf.issue(req, input.challenge);
  const client = clientBlock(input.client);
  const name = input.client.client_name || input.client.client_id;
  const scopes = input.scopes.map((s) => checkbox("grant_scope", s, s, scopeDescriptions[s] ?? "")).join("\n");
  const audiences = input.audiences.map((a) => checkbox("grant_audience", a, a)).join("\n");
  return page({
    title: "Allow access?",
    imageOrigin: client.imageOrigin,
    headers: setCookie ? { "Set-Cookie": setCookie } : undefined,
    body: `<h1>Allow access?</h1>
${client.html}
<p><strong>${escapeHtml(name)}</strong> asks for access to your account <code>${escapeHtml(input.subject)}</code>.</p>
<form method="post" action="consent">
${hidden("challenge", input.challenge)}
${hidden(csrfField, token)}
${scopes ? `<fieldset><legend>Permissions</legend>\n${scopes}\n</fieldset>` : "<p>It asks for no permissions.</p>"}
${audiences ? `<fieldset><legend>Services it may call for you</legend>\n${audiences}\n</fieldset>` : ""}
${checkbox("remember", "1", "Remember my decision", "Do not ask again for an hour", false)}
<div class="actions">
<button type="submit" name="action" value="accept" class="primary">Allow</button>
<button type="submit" name="action" value="reject">Deny</button>
</div>
</form>`,
  });
}

function logoutPage(req: Request, csrf: Csrf, challenge: string, subject: string, client: ClientInfo | null): Response {
  const { token, setCookie } = csrf.issue(req, challenge);
  const shown = clientBlock(client);
  return page({
    title: "Sign out?",
    imageOrigin: shown.imageOrigin,
    headers: setCookie ? { "Set-Cookie": setCookie } : undefined,
    body: `<h1>Sign out?</h1>
${shown.html}
<p>Do you want to sign out${subject ? ` <code>${escapeHtml(subject)}</code>` : ""}${client ? ` (asked by <strong>${escapeHtml(client.client_name || client.client_id)}</strong>)` : ""}?</p>
<form method="post" action="logout">
${hidden("challenge", challenge)}
${hidden(csrfField, token)}
<div class="actions">
<button type="submit" name="action" value="accept" class="primary">Yes, sign me out</button>
<button type="submit" name="action" value="reject">No, stay signed in</button>
</div>
</form>`,
  });
}

/** The form's challenge, once its CSRF token checks out. */
function checkedChallenge(req: Request, form: URLSearchParams, csrf: Csrf, kind: string): string {
  const challenge = challengeOf(form.get("challenge"), kind);
  if (!csrf.verify(req, form.get(csrfField) ?? "", challenge)) {
    throw new BadForm(403, "The form could not be verified (it may be from another site, or older than a restart). Go back and reload the page.");
  }
  return challenge;
}

export function exampleAppRoutes(options: ExampleAppOptions): RouteTable {
  const { log } = options;
  const publicUrl = new URL(options.publicUrl);
  const csrf = createCsrf({ path: `${publicUrl.pathname}${exampleAppPaths.home.slice(1, -1)}`, secure: publicUrl.protocol === "https:" });
  const admin = () => options.admin();

  const showLogin: Handler = async (req) => {
    const challenge = challengeOf(new URL(req.url).searchParams.get("login_challenge"), "login");
    const fetched = await getLoginRequest(admin(), challenge);
    // 410: answered already; its request URL starts the flow over.
    if ("handledRedirectTo" in fetched) return redirect(fetched.handledRedirectTo);
    const request = fetched.request;
    if (request.skip) {
      // Gatehouse remembers this browser's login: confirm it without asking again.
      return redirect(await acceptLoginRequest(admin(), challenge, { subject: request.subject }));
    }
    return loginPage(req, csrf, { challenge, client: request.client, email: request.oidc_context?.login_hint ?? "" });
  };

  const submitLogin: Handler = async (req) => {
    const form = await readForm(req);
    const challenge = checkedChallenge(req, form, csrf, "login");
    if (form.get("action") === "reject") return redirect(await rejectLoginRequest(admin(), challenge, denied), 303);
    const email = form.get("email") ?? "";
    const subject = checkCredentials(email, form.get("password") ?? "");
    if (!subject) {
      const fetched = await getLoginRequest(admin(), challenge);
      if ("handledRedirectTo" in fetched) return redirect(fetched.handledRedirectTo, 303);
      return loginPage(req, csrf, { challenge, client: fetched.request.client, email, status: 401, error: "The email address or password is not correct." });
    }
    const remember = form.get("remember") === "1";
    return redirect(await acceptLoginRequest(admin(), challenge, { subject, remember, remember_for: remember ? rememberForSeconds : 0 }), 303);
  };

  const showConsent: Handler = async (req) => {
    const challenge = challengeOf(new URL(req.url).searchParams.get("consent_challenge"), "consent");
    const fetched = await getConsentRequest(admin(), challenge);
    if ("handledRedirectTo" in fetched) return redirect(fetched.handledRedirectTo);
    const request = fetched.request;
    if (request.skip) {
      // Consent was given before and remembered: grant the same again without asking.
      return redirect(
        await acceptConsentRequest(admin(), challenge, {
          grant_scope: request.requested_scope,
          grant_access_token_audience: request.requested_access_token_audience,
          session: { id_token: idTokenClaims(request.subject, request.requested_scope) },
        }),
      );
    }
    return consentPage(req, csrf, {
      challenge,
      client: request.client,
      subject: request.subject,
      scopes: request.requested_scope,
      audiences: request.requested_access_token_audience,
    });
  };

  const submitConsent: Handler = async (req) => {
    const form = await readForm(req);
    const challenge = checkedChallenge(req, form, csrf, "consent");
    if (form.get("action") === "reject") return redirect(await rejectConsentRequest(admin(), challenge, denied), 303);
    const fetched = await getConsentRequest(admin(), challenge);
    if ("handledRedirectTo" in fetched) return redirect(fetched.handledRedirectTo, 303);
    const request = fetched.request;
    // Only what was asked for can be granted, whatever the form says.
    const ticked = (name: string, requested: string[]) => {
      const values = new Set(form.getAll(name));
      return requested.filter((v) => values.has(v));
    };
    const grantScope = ticked("grant_scope", request.requested_scope);
    const remember = form.get("remember") === "1";
    return redirect(
      await acceptConsentRequest(admin(), challenge, {
        grant_scope: grantScope,
        grant_access_token_audience: ticked("grant_audience", request.requested_access_token_audience),
        remember,
        remember_for: remember ? rememberForSeconds : 0,
        // The ID token (and /userinfo) carry the claims of the granted scopes only.
        session: { id_token: idTokenClaims(request.subject, grantScope) },
      }),
      303,
    );
  };

  const showLogout: Handler = async (req) => {
    const challenge = challengeOf(new URL(req.url).searchParams.get("logout_challenge"), "logout");
    const fetched = await getLogoutRequest(admin(), challenge);
    if ("handledRedirectTo" in fetched) return redirect(fetched.handledRedirectTo);
    return logoutPage(req, csrf, challenge, fetched.request.subject, fetched.request.client);
  };

  const submitLogout: Handler = async (req) => {
    const form = await readForm(req);
    const challenge = checkedChallenge(req, form, csrf, "logout");
    if (form.get("action") === "reject") {
      await rejectLogoutRequest(admin(), challenge);
      return page({ title: "Still signed in", body: "<h1>You are still signed in</h1>\n<p>Nothing changed. You can close this page.</p>" });
    }
    return redirect(await acceptLogoutRequest(admin(), challenge), 303);
  };

  const home: Handler = () =>
    page({
      title: "Gatehouse example app",
      body: `<h1>Gatehouse example app</h1>
<p>This app shows Gatehouse's login, consent and logout pages. It is opened by Gatehouse during a login, with a challenge in the URL; on its own it has nothing to do.</p>
<p>Try it: <code>gatehouse token user --auto-client --scope openid,offline_access,profile,email</code> prints an authorization URL to open here.</p>
<p class="hint">Demo user: <code>${escapeHtml(demoUser.email)}</code> / <code>${escapeHtml(demoUser.password)}</code></p>`,
    });

  return {
    [exampleAppPaths.home]: { GET: guarded(log, home) },
    [exampleAppPaths.login]: { GET: guarded(log, showLogin), POST: guarded(log, submitLogin) },
    [exampleAppPaths.consent]: { GET: guarded(log, showConsent), POST: guarded(log, submitConsent) },
    [exampleAppPaths.logout]: { GET: guarded(log, showLogout), POST: guarded(log, submitLogout) },
  };
}
