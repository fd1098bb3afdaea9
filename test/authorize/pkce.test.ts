/**
 * PKCE at the authorization endpoint (RFC 7636, Hydra: S256 only): S256 is stored with the
 * code, plain and a missing method are refused, the challenge must be well-formed, and
 * oauth2.pkce.enforced / enforced_for_public_clients require one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { redeemAuthorizationCode } from "../../src/oauth2/authorization-code.ts";
import { s256, verifyCodeVerifier } from "../../src/oauth2/pkce.ts";
import { authPath, Browser, createClient, readResponse, runFlow, startEnv, startTimeout, state, type Env } from "../flows/kit.ts";

const verifier = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
/** BASE64URL(SHA256(verifier)), computed with openssl dgst -sha256 -binary | base64url. */
const challenge = "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc";

test("S256 (RFC 7636 §4.2) and exact verification", () => {
  expect(s256(verifier)).toBe(challenge);
  expect(verifyCodeVerifier({ challenge, method: "S256" }, verifier)).toBe(true);
  expect(verifyCodeVerifier({ challenge, method: "S256" }, `${verifier}x`)).toBe(false);
  expect(verifyCodeVerifier({ challenge, method: "S256" }, undefined)).toBe(false);
  expect(verifyCodeVerifier({ challenge, method: "S256" }, "short")).toBe(false);
});

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`PKCE on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "authz_pkce");
      client = await createClient(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });
    const params = (extra: Record<string, string | undefined>) => ({ client_id: client.client_id, response_type: "code", scope: "openid", state: state(), ...extra });

    test("S256 is accepted and kept with the code for the token endpoint", async () => {
      const res = readResponse(await runFlow(new Browser(env), params({ code_challenge: challenge, code_challenge_method: "S256" })));
      const redeemed = await redeemAuthorizationCode(env.server.deps, env.server.deps.db, res.params.code!);
      expect(redeemed.outcome).toBe("redeemed");
      if (redeemed.outcome === "redeemed") expect(redeemed.session.pkce).toEqual({ challenge, method: "S256" });
    });

    test("without PKCE (not enforced) the code has none", async () => {
      const res = readResponse(await runFlow(new Browser(env), params({})));
      const redeemed = await redeemAuthorizationCode(env.server.deps, env.server.deps.db, res.params.code!);
      if (redeemed.outcome === "redeemed") expect(redeemed.session.pkce).toBeNull();
      else throw new Error("not redeemed");
    });

    test("plain, a missing method, an unknown method, a malformed challenge, or a method alone: invalid_request at the client", async () => {
      for (const [extra, hint] of [
        [{ code_challenge: challenge, code_challenge_method: "plain" }, "Clients must use code_challenge_method=S256, plain is not allowed."],
        [{ code_challenge: challenge }, "Clients must use code_challenge_method=S256, plain is not allowed."],
        [{ code_challenge: challenge, code_challenge_method: "S512" }, "The code_challenge_method is not supported, use S256 instead."],
        [{ code_challenge: "too-short", code_challenge_method: "S256" }, "43 to 128 characters"],
        [{ code_challenge: `${challenge.slice(0, 42)}+`, code_challenge_method: "S256" }, "43 to 128 characters"],
        [{ code_challenge_method: "S256" }, "without a code_challenge"],
      ] as const) {
        const stop = await new Browser(env).navigate(authPath(params(extra)));
        const res = readResponse(stop);
        expect(res.target).toBe("https://client.test/cb");
        expect(res.params.error).toBe("invalid_request");
        expect(res.params.error_description).toContain(hint);
      }
    });

    test("PKCE only concerns requests for a code", async () => {
      const stop = await new Browser(env).navigate(authPath(params({ response_type: "token", code_challenge_method: "plain" })));
      expect(stop.location).toStartWith("https://login.test/login");
    });
  });
}

describe("PKCE enforcement", () => {
  let enforced: Env;
  let forPublic: Env;
  beforeAll(async () => {
    [enforced, forPublic] = await Promise.all([
      startEnv("PostgreSQL", "authz_pkce_all", { oauth2: { pkce: { enforced: true } } }),
      startEnv("PostgreSQL", "authz_pkce_public", { oauth2: { pkce: { enforced_for_public_clients: true } } }),
    ]);
  }, startTimeout);
  afterAll(async () => {
    await Promise.all([enforced?.stop(), forPublic?.stop()]);
  });

  test("oauth2.pkce.enforced: every client must send a code_challenge", async () => {
    const confidential = await createClient(enforced, { token_endpoint_auth_method: "client_secret_basic" });
    const p = { client_id: confidential.client_id, response_type: "code", scope: "openid", state: state() };
    const res = readResponse(await new Browser(enforced).navigate(authPath(p)));
    expect(res.params.error).toBe("invalid_request");
    expect(res.params.error_description).toContain("Clients must include a code_challenge when performing the authorize code flow, but it is missing.");
    expect((await new Browser(enforced).navigate(authPath({ ...p, code_challenge: challenge, code_challenge_method: "S256" }))).location).toStartWith("https://login.test/login");
  });

  test("oauth2.pkce.enforced_for_public_clients: public clients must, confidential ones need not", async () => {
    const publicClient = await createClient(forPublic);
    const confidential = await createClient(forPublic, { token_endpoint_auth_method: "client_secret_post" });
    const p = (id: string) => ({ client_id: id, response_type: "code", scope: "openid", state: state() });
    expect(readResponse(await new Browser(forPublic).navigate(authPath(p(publicClient.client_id)))).params.error).toBe("invalid_request");
    expect((await new Browser(forPublic).navigate(authPath(p(confidential.client_id)))).location).toStartWith("https://login.test/login");
    expect(
      (await new Browser(forPublic).navigate(authPath({ ...p(publicClient.client_id), code_challenge: challenge, code_challenge_method: "S256" }))).location,
    ).toStartWith("https://login.test/login");
  });
});
