/**
 * openid-client v6 as the relying party: discovery, client_credentials with
 * client_secret_basic, client_secret_post and private_key_jwt, revocation and
 * introspection; JWT access tokens (RFC 9068) verified with jose against jwks.json.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRemoteJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, type CryptoKey } from "jose";
import * as client from "openid-client";
import { getClient } from "../../src/clients/store.ts";
import { issueAccessToken } from "../../src/oauth2/tokens.ts";
import { createClient, introspect, startOAuthServer, type OAuthServer } from "./support.ts";

type Setup = { name: string; backend: "postgres" | "pglite"; jwt: boolean; config: Record<string, unknown> };

const setups: Setup[] = [
  { name: "PostgreSQL, opaque tokens", backend: "postgres", jwt: false, config: {} },
  {
    name: "PostgreSQL, JWT tokens",
    backend: "postgres",
    jwt: true,
    config: {
      strategies: { access_token: "jwt" },
      oauth2: { client_credentials: { default_grant_allowed_scope: true }, allowed_top_level_claims: ["tenant", "sub", "scope"] },
    },
  },
  { name: "PGlite, JWT tokens", backend: "pglite", jwt: true, config: { strategies: { access_token: "jwt" }, oauth2: { exclude_not_before_claim: true } } },
];

const servers = new Map<string, OAuthServer>();
let privateKey: CryptoKey;
let publicJwk: Record<string, unknown>;

beforeAll(async () => {
  const pair = await generateKeyPair("PS256", { extractable: true });
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "rp-key-1", alg: "PS256", use: "sig" };
  await Promise.all(
    setups.map(async (setup) => {
      const s = await startOAuthServer(setup.backend, `oidc_client_${setup.jwt ? "jwt" : "opaque"}`, setup.config);
      servers.set(setup.name, s);
      const common = { grant_types: ["client_credentials"], scope: "read write", audience: ["https://api.example.com"] };
      await createClient(s.server, { ...common, client_id: "rp-basic", client_secret: "basic-secret-1234567890" });
      await createClient(s.server, { ...common, client_id: "rp-post", client_secret: "post-secret-1234567890", token_endpoint_auth_method: "client_secret_post" });
      await createClient(s.server, {
        ...common,
        client_id: "rp-jwt",
        token_endpoint_auth_method: "private_key_jwt",
        token_endpoint_auth_signing_alg: "PS256",
        jwks: { keys: [publicJwk] },
      });
    }),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.stop()));
}, 60_000);

describe.each(setups)("$name", (setup) => {
  const s = () => servers.get(setup.name)!;
  const discover = (id: string, auth: client.ClientAuth) =>
    client.discovery(new URL(s().issuer), id, undefined, auth, { execute: [client.allowInsecureRequests] });

  test("discovery advertises the token endpoint, client_credentials and the four auth methods", async () => {
    const config = await discover("rp-basic", client.ClientSecretBasic("basic-secret-1234567890"));
    const meta = config.serverMetadata();
    expect(meta.token_endpoint).toBe(s().tokenUrl);
    expect(meta.revocation_endpoint).toBe(`${s().issuer}oauth2/revoke`);
    expect(meta.grant_types_supported).toContain("client_credentials");
    // Served but not advertised, as Hydra.
    expect(meta.grant_types_supported).not.toContain("urn:ietf:params:oauth:grant-type:jwt-bearer");
    expect(meta.token_endpoint_auth_methods_supported).toEqual(["client_secret_post", "client_secret_basic", "private_key_jwt", "none"]);
    expect(meta.introspection_endpoint).toBeUndefined();
  });

  for (const [id, auth] of [
    ["rp-basic", () => client.ClientSecretBasic("basic-secret-1234567890")],
    ["rp-post", () => client.ClientSecretPost("post-secret-1234567890")],
    ["rp-jwt", () => client.PrivateKeyJwt({ key: privateKey, kid: "rp-key-1" })],
  ] as const) {
    test(`client_credentials as ${id}, then introspection and revocation`, async () => {
      const config = await discover(id, auth());
      const tokens = await client.clientCredentialsGrant(config, { scope: "read", audience: "https://api.example.com" });
      expect(tokens.token_type).toBe("bearer");
      expect(tokens.scope).toBe("read");
      expect(tokens.expires_in).toBe(3600);
      expect(tokens.refresh_token).toBeUndefined();
      if (setup.jwt) expect(tokens.access_token.split(".")).toHaveLength(3);
      else expect(tokens.access_token).toStartWith("gth_at_");

      const active = await introspect(s().server, tokens.access_token);
      expect(active.status).toBe(200);
      const now = Math.floor(Date.now() / 1000);
      expect(active.body).toEqual({
        active: true,
        scope: "read",
        client_id: id,
        sub: id,
        exp: expect.any(Number),
        iat: expect.any(Number),
        nbf: expect.any(Number),
        aud: ["https://api.example.com"],
        iss: s().issuer,
        token_type: "Bearer",
        token_use: "access_token",
        ext: {},
      });
      expect(Math.abs((active.body.exp as number) - (now + 3600))).toBeLessThanOrEqual(2);

      // openid-client's introspection, pointed at the admin listener (which takes no client authentication).
      const admin = new client.Configuration({ issuer: s().issuer, introspection_endpoint: `${s().server.adminUrl}/oauth2/introspect` }, id, undefined, client.None());
      client.allowInsecureRequests(admin);
      const viaRp = await client.tokenIntrospection(admin, tokens.access_token);
      expect(viaRp.active).toBe(true);
      expect(viaRp.client_id).toBe(id);

      await client.tokenRevocation(config, tokens.access_token);
      expect((await introspect(s().server, tokens.access_token)).body).toEqual({ active: false });
      // Revoking again, or an unknown token, is still fine (RFC 7009 §2.2).
      await client.tokenRevocation(config, tokens.access_token);
      await client.tokenRevocation(config, "gth_at_unknown.token");
    });
  }

  test("a private_key_jwt assertion cannot be replayed", async () => {
    let captured: string | undefined;
    const auth = client.PrivateKeyJwt({ key: privateKey, kid: "rp-key-1" });
    const config = await discover("rp-jwt", auth);
    const fetchWithCapture: client.CustomFetch = async (url, options) => {
      const body = new URLSearchParams(String(options.body));
      captured ??= body.get("client_assertion") ?? undefined;
      return fetch(url, options as RequestInit);
    };
    config[client.customFetch] = fetchWithCapture;
    await client.clientCredentialsGrant(config, { scope: "read" });
    expect(captured).toBeDefined();
    const replay = await fetch(s().tokenUrl.replace(s().issuer, `${s().server.publicUrl}/`), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion: captured!,
      }),
    });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: string }).error).toBe("invalid_client");
  });

  test("a refused grant surfaces as an OAuth error in openid-client", async () => {
    const config = await discover("rp-basic", client.ClientSecretBasic("basic-secret-1234567890"));
    const err = await client.clientCredentialsGrant(config, { scope: "admin" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(client.ResponseBodyError);
    expect((err as client.ResponseBodyError).error).toBe("invalid_scope");
    const wrong = await discover("rp-basic", client.ClientSecretBasic("wrong"));
    const denied = await client.clientCredentialsGrant(wrong).catch((e: unknown) => e);
    // RFC 6749 §5.2: a failed Basic authentication carries a Basic challenge, which openid-client surfaces as such.
    expect(denied).toBeInstanceOf(client.WWWAuthenticateChallengeError);
    const challenge = denied as client.WWWAuthenticateChallengeError;
    expect(challenge.status).toBe(401);
    expect(challenge.cause[0]).toEqual({ scheme: "basic", parameters: { realm: s().issuer } });
    expect(((await challenge.response.json()) as { error: string }).error).toBe("invalid_client");
  });

  if (setup.jwt) {
    test("JWT access tokens: RFC 9068 header and claims, verified against /.well-known/jwks.json", async () => {
      const config = await discover("rp-basic", client.ClientSecretBasic("basic-secret-1234567890"));
      const tokens = await client.clientCredentialsGrant(config, { scope: "read write", audience: "https://api.example.com" });
      const jwks = createRemoteJWKSet(new URL(`${s().server.publicUrl}/.well-known/jwks.json`));
      const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
        typ: "at+jwt",
        issuer: s().issuer,
        audience: "https://api.example.com",
      });
      expect(protectedHeader.typ).toBe("at+jwt");
      expect(protectedHeader.kid).toBeString();
      expect(payload.sub).toBe("rp-basic");
      expect(payload.client_id).toBe("rp-basic");
      expect(payload.scope).toBe("read write");
      expect(payload.scp).toEqual(["read", "write"]);
      expect(payload.ext).toEqual({});
      expect(payload.jti).toBeString();
      expect(payload.exp! - payload.iat!).toBe(3600);
      if (setup.backend === "pglite") expect(payload.nbf).toBeUndefined();
      else expect(payload.nbf).toBe(payload.iat);
      expect(decodeProtectedHeader(tokens.access_token).alg).toBe("RS256");
    });

    test("a JWT with a forged payload (our signature part, other claims) is inactive; a foreign signature too", async () => {
      const config = await discover("rp-basic", client.ClientSecretBasic("basic-secret-1234567890"));
      const { access_token } = await client.clientCredentialsGrant(config, { scope: "read" });
      const [h, p, sig] = access_token.split(".");
      const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: "read write admin" })).toString("base64url")}.${sig}`;
      expect((await introspect(s().server, forged)).body).toEqual({ active: false });
      expect((await introspect(s().server, `${h}.${p}.${"A".repeat(sig!.length)}`)).body).toEqual({ active: false });
      expect((await introspect(s().server, access_token)).body.active).toBe(true);
    });
  }

  if (setup.name === "PostgreSQL, JWT tokens") {
    test("oauth2.client_credentials.default_grant_allowed_scope: no scope asked, all the client's scopes granted", async () => {
      const config = await discover("rp-post", client.ClientSecretPost("post-secret-1234567890"));
      const tokens = await client.clientCredentialsGrant(config);
      expect(tokens.scope).toBe("read write");
    });

    test("issueAccessToken (the function other grants call): session ext, allowed_top_level_claims, reserved claims kept", async () => {
      const { server } = s();
      const stored = (await getClient(server.deps.db, "rp-basic"))!;
      const now = server.deps.clock.now();
      const issued = await server.deps.db.transaction((tx) =>
        issueAccessToken(server.deps, tx, {
          requestId: crypto.randomUUID(),
          client: stored,
          subject: "user-42",
          grantedScope: ["read"],
          grantedAudience: [],
          session: { ext: { tenant: "t1", sub: "evil", scope: "admin", other: true } },
          grantType: "jwt_bearer",
          now,
        }),
      );
      const jwks = createRemoteJWKSet(new URL(`${server.publicUrl}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(issued.token, jwks, { typ: "at+jwt" });
      expect(payload.tenant).toBe("t1");
      expect(payload.sub).toBe("user-42");
      expect(payload.scope).toBe("read");
      expect(payload.other).toBeUndefined();
      expect(payload.aud).toEqual([]);
      expect(payload.ext).toEqual({ tenant: "t1", sub: "evil", scope: "admin", other: true });
      const seen = await introspect(server, issued.token);
      expect(seen.body).toMatchObject({ active: true, sub: "user-42", client_id: "rp-basic", ext: { tenant: "t1", other: true } });
      expect(issued.expiresIn).toBe(3600);
    });

    test("per-client lifespan: client_credentials_grant_access_token_lifespan", async () => {
      const res = await s().server.adminFetch("/clients/rp-post/lifespans", {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ client_credentials_grant_access_token_lifespan: "5m" }),
      });
      expect(res.status).toBe(200);
      const config = await discover("rp-post", client.ClientSecretPost("post-secret-1234567890"));
      const tokens = await client.clientCredentialsGrant(config, { scope: "read" });
      expect(tokens.expires_in).toBe(300);
      const jwks = createRemoteJWKSet(new URL(`${s().server.publicUrl}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(tokens.access_token, jwks, { typ: "at+jwt" });
      expect(payload.exp! - payload.iat!).toBe(300);
    });
  }
});
