/**
 * The code existing Hydra users run: @ory/hydra-client 1.11.8's AdminApi answers the login
 * and consent requests of full flows (accept and reject) and manages sessions; and
 * openid-client 6 as the relying party builds the authorization URL and validates the
 * implicit ID token (signature, iss, aud, nonce, state) against discovery.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AdminApi, Configuration } from "@ory/hydra-client";
import * as oidc from "openid-client";
import { Browser, challengeFrom, createClient, readResponse, startEnv, startTimeout, state, type Env } from "./kit.ts";

function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`Hydra SDK and openid-client on ${backend}`, () => {
    let env: Env;
    let hydra: AdminApi;
    let client: Record<string, any>;
    beforeAll(async () => {
      // The issuer is the listener's real URL, so that openid-client's discovery accepts it.
      const port = freePort();
      env = await startEnv(backend, "flows_sdk", { urls: { self: { issuer: `http://127.0.0.1:${port}/` } }, serve: { public: { port } } });
      hydra = new AdminApi(new Configuration({ basePath: env.server.adminUrl }));
      client = await createClient(env, { response_types: ["id_token", "code"], grant_types: ["implicit", "authorization_code"] });
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    test("openid-client builds the request; the SDK accepts login and consent; openid-client validates the ID token", async () => {
      const config = await oidc.discovery(new URL(env.server.deps.config.urls.self.issuer), client.client_id, undefined, oidc.None(), {
        execute: [oidc.allowInsecureRequests],
      });
      oidc.useIdTokenResponseType(config);
      const nonce = oidc.randomNonce();
      const expectedState = oidc.randomState();
      const url = oidc.buildAuthorizationUrl(config, { redirect_uri: "https://client.test/cb", scope: "openid email", nonce, state: expectedState });
      const browser = new Browser(env);

      const login = challengeFrom(await browser.navigate(url.toString()), "login");
      const loginRequest = (await hydra.getLoginRequest(login)).data;
      expect(loginRequest).toMatchObject({ challenge: login, skip: false, requested_scope: ["openid", "email"], client: { client_id: client.client_id } });
      const accepted = await hydra.acceptLoginRequest(login, { subject: "sdk-user", remember: true, remember_for: 600, acr: "1" });
      const consent = challengeFrom(await browser.navigate(accepted.data.redirect_to), "consent");
      const consentRequest = (await hydra.getConsentRequest(consent)).data;
      expect(consentRequest).toMatchObject({ challenge: consent, subject: "sdk-user", login_challenge: login, acr: "1" });
      const granted = await hydra.acceptConsentRequest(consent, {
        grant_scope: consentRequest.requested_scope,
        remember: true,
        session: { id_token: { email: "sdk@example.com" } },
      });
      const stop = await browser.navigate(granted.data.redirect_to);
      const callback = new URL(stop.location!);
      const claims = await oidc.implicitAuthentication(config, callback, nonce, { expectedState });
      expect(claims).toMatchObject({ sub: "sdk-user", email: "sdk@example.com", acr: "1", nonce });

      const sessions = await hydra.listSubjectConsentSessions("sdk-user");
      expect(sessions.data).toHaveLength(1);
      expect(sessions.data[0]!.consent_request!.challenge).toBe(consent);
      expect((await hydra.revokeConsentSessions("sdk-user", client.client_id)).status).toBe(204);
      expect((await hydra.listSubjectConsentSessions("sdk-user")).data).toEqual([]);
      expect((await hydra.revokeAuthenticationSession("sdk-user")).status).toBe(204);
    });

    test("the SDK rejects a login and a consent; the client receives the errors", async () => {
      const browser = new Browser(env);
      const p = { client_id: client.client_id, response_type: "code", scope: "openid", state: state() };
      const loginStop = await browser.navigate(`/oauth2/auth?${new URLSearchParams(p)}`);
      const rejected = await hydra.rejectLoginRequest(challengeFrom(loginStop, "login"), { error: "access_denied", error_description: "Nope" });
      expect(readResponse(await browser.navigate(rejected.data.redirect_to)).params).toEqual({ error: "access_denied", error_description: "Nope", state: p.state });

      const again = await browser.navigate(`/oauth2/auth?${new URLSearchParams({ ...p, state: state() })}`);
      const loginAccepted = await hydra.acceptLoginRequest(challengeFrom(again, "login"), { subject: "sdk-user-2" });
      const consent = challengeFrom(await browser.navigate(loginAccepted.data.redirect_to), "consent");
      const denied = await hydra.rejectConsentRequest(consent, { error: "consent_required", error_hint: "The user closed the window." });
      const res = readResponse(await browser.navigate(denied.data.redirect_to));
      expect(res.params.error).toBe("consent_required");
      expect(res.params.error_description).toBe("The user closed the window.");

      // Hydra's error statuses reach the SDK as axios errors.
      const status = await hydra.getLoginRequest("0".repeat(32)).then(
        () => 200,
        (err) => err.response.status,
      );
      expect(status).toBe(404);
      const gone = await hydra.getConsentRequest(consent).then(
        () => 200,
        (err) => err.response.status,
      );
      expect(gone).toBe(410);
    });
  });
}
