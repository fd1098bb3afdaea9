/**
 * POST /oauth2/introspect (admin), POST /oauth2/revoke (public), DELETE /oauth2/tokens and
 * DELETE /clients/{id}: opaque access tokens, refresh-token rows (written through the store, as
 * nothing issues them yet), expiry, revocation by owner and by others, grant-wide revocation.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { count, eq } from "drizzle-orm";
import { getClient } from "../../src/clients/store.ts";
import { generateOpaqueToken } from "../../src/oauth2/opaque-token.ts";
import { insertRefreshToken } from "../../src/oauth2/store.ts";
import { encodeSession, issueAccessToken, type TokenSession } from "../../src/oauth2/tokens.ts";
import { accessTokens, refreshTokens } from "../../src/storage/schema/index.ts";
import type { TestServer } from "../helpers/server.ts";
import {
  basic,
  clientCredentials,
  createClient,
  form,
  introspect,
  invalidRequestDescription,
  revoke,
  startOAuthServer,
  type BackendName,
  type OAuthServer,
} from "./support.ts";

const servers: Partial<Record<BackendName, OAuthServer>> = {};

const owner = { id: "owner", secret: "owner-secret-123456" };
const other = { id: "other", secret: "other-secret-123456" };

async function seed(server: TestServer) {
  for (const c of [owner, other]) {
    await createClient(server, { client_id: c.id, client_secret: c.secret, grant_types: ["client_credentials", "refresh_token"], scope: "read write api.*" });
  }
  await createClient(server, { client_id: "spa", grant_types: ["authorization_code"], token_endpoint_auth_method: "none", redirect_uris: ["https://spa.example/cb"] });
}

beforeAll(async () => {
  const [pg, lite] = await Promise.all([
    startOAuthServer("postgres", "introspect_revoke"),
    startOAuthServer("pglite", "introspect_revoke", { oauth2: { session: { encrypt_at_rest: false } } }),
  ]);
  servers.postgres = pg;
  servers.pglite = lite;
  await Promise.all([seed(pg.server), seed(lite.server)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([servers.postgres?.stop(), servers.pglite?.stop()]);
}, 60_000);

/** An access token issued through the function every grant uses, at a chosen time. */
async function issue(server: TestServer, clientId: string, options: { requestId?: string; now?: Date; scope?: string[]; session?: TokenSession; subject?: string } = {}) {
  const client = (await getClient(server.deps.db, clientId))!;
  return issueAccessToken(server.deps, server.deps.db, {
    requestId: options.requestId ?? crypto.randomUUID(),
    client,
    subject: options.subject ?? clientId,
    grantedScope: options.scope ?? ["read"],
    grantedAudience: [],
    session: options.session ?? { ext: {} },
    grantType: "client_credentials",
    now: options.now ?? server.deps.clock.now(),
  });
}

/** A refresh-token row written through the store, as the refresh grant will. */
async function storeRefreshToken(server: TestServer, clientId: string, requestId: string, options: { expiresAt?: Date | undefined; scope?: string[] } = {}) {
  const { config } = server.deps;
  const { token, signature } = generateOpaqueToken(config.secrets.system, "refresh_token", config.oauth2.token_prefix.refresh_token);
  const now = server.deps.clock.now();
  await insertRefreshToken(server.deps.db, {
    signature,
    requestId,
    clientId,
    subject: "user-1",
    grantedScope: options.scope ?? ["read", "offline"],
    grantedAudience: ["https://api.example.com"],
    requestedAt: now,
    expiresAt: "expiresAt" in options ? options.expiresAt : new Date(now.getTime() + 3600_000),
    session: encodeSession(config, { ext: { tenant: "t1" }, username: "alice" }),
  });
  return token;
}

describe.each(["postgres", "pglite"] as const)("on %s", (name) => {
  const s = () => servers[name]!.server;

  test("introspection: active opaque token; expired, revoked, malformed and foreign-prefix tokens are inactive", async () => {
    const access_token = (await clientCredentials(s(), owner.id, owner.secret, { scope: "read write" })).access_token as string;
    const active = await introspect(s(), access_token);
    expect(active.status).toBe(200);
    expect(active.headers.get("cache-control")).toBe("no-store");
    expect(active.body).toMatchObject({ active: true, scope: "read write", client_id: owner.id, sub: owner.id, token_use: "access_token", token_type: "Bearer" });
    expect(active.body.iat).toBe(active.body.nbf as number);

    const expired = await issue(s(), owner.id, { now: new Date(Date.now() - 2 * 3600_000) });
    expect((await introspect(s(), expired.token)).body).toEqual({ active: false });

    const other = (await clientCredentials(s(), owner.id, owner.secret)).access_token as string;
    expect((await revoke(s(), other, basic(owner.id, owner.secret))).status).toBe(200);
    expect((await introspect(s(), other)).body).toEqual({ active: false });

    for (const junk of ["garbage", "gth_at_abc", "gth_at_a.b", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.sig", access_token.replace("gth_at_", "xyz_at_"), `${access_token}x`, "x".repeat(20_000)]) {
      const res = await introspect(s(), junk);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ active: false });
    }
  });

  test("introspection of refresh tokens (rows written through the store): active, inactive, expired, never expiring", async () => {
    const requestId = crypto.randomUUID();
    const token = await storeRefreshToken(s(), owner.id, requestId);
    const res = await introspect(s(), token, { token_type_hint: "access_token" });
    expect(res.body).toEqual({
      active: true,
      scope: "read offline",
      client_id: owner.id,
      sub: "user-1",
      exp: expect.any(Number),
      iat: expect.any(Number),
      nbf: expect.any(Number),
      aud: ["https://api.example.com"],
      iss: servers[name]!.issuer,
      token_type: "Bearer",
      token_use: "refresh_token",
      ext: { tenant: "t1" },
      username: "alice",
    });
    const forever = await storeRefreshToken(s(), owner.id, crypto.randomUUID(), { expiresAt: undefined });
    const foreverBody = (await introspect(s(), forever)).body;
    expect(foreverBody.active).toBe(true);
    expect(foreverBody.exp).toBeUndefined();
    const expired = await storeRefreshToken(s(), owner.id, crypto.randomUUID(), { expiresAt: new Date(Date.now() - 1000) });
    expect((await introspect(s(), expired)).body).toEqual({ active: false });
  });

  test("introspection with `scope`: every listed scope must be covered (wildcard strategy)", async () => {
    const { token } = await issue(s(), owner.id, { scope: ["read", "api.*"] });
    expect((await introspect(s(), token, { scope: "read" })).body.active).toBe(true);
    expect((await introspect(s(), token, { scope: "read api.orders" })).body.active).toBe(true);
    expect((await introspect(s(), token, { scope: "read write" })).body).toEqual({ active: false });
    expect((await introspect(s(), token, { scope: 'bad"scope' })).body).toEqual({ active: false });
  });

  test("introspection input errors are 400 invalid_request; the endpoint is admin-only", async () => {
    const bad = [
      form(""),
      form({ scope: "read" }),
      { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"token":"x"}' },
      form("token=a&token=b"),
    ];
    for (const init of bad) {
      const res = await s().adminFetch("/oauth2/introspect", init);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
    }
    expect((await s().publicFetch("/oauth2/introspect", form({ token: "x" }))).status).toBe(404);
    expect((await s().adminFetch("/oauth2/token", form({ grant_type: "client_credentials" }))).status).toBe(404);
  });

  test("revocation: the owner revokes; another client cannot (200, nothing happens); unknown tokens are 200", async () => {
    const token = (await clientCredentials(s(), owner.id, owner.secret)).access_token as string;
    const byOther = await revoke(s(), token, basic(other.id, other.secret));
    expect(byOther.status).toBe(200);
    expect(byOther.text).toBe("");
    expect((await introspect(s(), token)).body.active).toBe(true);
    const byOwner = await revoke(s(), token, basic(owner.id, owner.secret));
    expect(byOwner.status).toBe(200);
    expect(byOwner.text).toBe("");
    expect(byOwner.headers.get("cache-control")).toBe("no-store");
    expect((await introspect(s(), token)).body).toEqual({ active: false });
    expect((await revoke(s(), "gth_at_never.issued", basic(owner.id, owner.secret))).status).toBe(200);
    expect((await revoke(s(), "not a token at all", basic(owner.id, owner.secret))).status).toBe(200);
  });

  test("revoking a refresh token revokes the access tokens of its grant, and only those", async () => {
    const grant = crypto.randomUUID();
    const refresh = await storeRefreshToken(s(), owner.id, grant);
    const a1 = await issue(s(), owner.id, { requestId: grant });
    const a2 = await issue(s(), owner.id, { requestId: grant });
    const unrelated = await issue(s(), owner.id);
    expect((await revoke(s(), refresh, basic(owner.id, owner.secret))).status).toBe(200);
    expect((await introspect(s(), refresh)).body).toEqual({ active: false });
    expect((await introspect(s(), a1.token)).body).toEqual({ active: false });
    expect((await introspect(s(), a2.token)).body).toEqual({ active: false });
    expect((await introspect(s(), unrelated.token)).body.active).toBe(true);
  });

  test("revoking an access token revokes its grant's refresh token too (as Hydra)", async () => {
    const grant = crypto.randomUUID();
    const refresh = await storeRefreshToken(s(), owner.id, grant);
    const access = await issue(s(), owner.id, { requestId: grant });
    // Another client presenting it changes nothing.
    await revoke(s(), access.token, basic(other.id, other.secret));
    expect((await introspect(s(), refresh)).body.active).toBe(true);
    await revoke(s(), access.token, basic(owner.id, owner.secret));
    expect((await introspect(s(), access.token)).body).toEqual({ active: false });
    expect((await introspect(s(), refresh)).body).toEqual({ active: false });
  });

  test("a public client revokes its own tokens with client_id only", async () => {
    const access = await issue(s(), "spa", { subject: "user-9" });
    const res = await s().publicFetch("/oauth2/revoke", form({ token: access.token, client_id: "spa" }));
    expect(res.status).toBe(200);
    expect((await introspect(s(), access.token)).body).toEqual({ active: false });
  });

  test("revocation errors: client authentication and a missing token only", async () => {
    const wrong = await revoke(s(), "whatever", basic(owner.id, "wrong"));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe("invalid_client");
    expect(wrong.headers.get("www-authenticate")).toStartWith("Basic realm=");
    const missing = await s().publicFetch("/oauth2/revoke", form({ token_type_hint: "access_token" }, { Authorization: basic(owner.id, owner.secret) }));
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ error: "invalid_request", error_description: `${invalidRequestDescription} The 'token' parameter is missing.` });
    const anonymous = await s().publicFetch("/oauth2/revoke", form({ token: "x" }));
    expect(anonymous.status).toBe(400);
  });

  test("DELETE /oauth2/tokens?client_id= revokes every token of that client only", async () => {
    const mine = await issue(s(), owner.id);
    const refresh = await storeRefreshToken(s(), owner.id, crypto.randomUUID());
    const theirs = (await clientCredentials(s(), other.id, other.secret)).access_token as string;
    const res = await s().adminFetch(`/oauth2/tokens?client_id=${owner.id}`, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect((await introspect(s(), mine.token)).body).toEqual({ active: false });
    expect((await introspect(s(), refresh)).body).toEqual({ active: false });
    expect((await introspect(s(), theirs)).body.active).toBe(true);
    const db = s().deps.db;
    expect(Number((await db.select({ n: count() }).from(accessTokens).where(eq(accessTokens.clientId, owner.id)))[0]!.n)).toBe(0);
    expect(Number((await db.select({ n: count() }).from(refreshTokens).where(eq(refreshTokens.clientId, owner.id)))[0]!.n)).toBe(0);

    const missing = await s().adminFetch("/oauth2/tokens", { method: "DELETE" });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toBe("invalid_request");
    expect((await s().adminFetch("/oauth2/tokens?client_id=nobody", { method: "DELETE" })).status).toBe(204);
    expect((await s().adminFetch("/oauth2/tokens?client_id=a%00b", { method: "DELETE" })).status).toBe(204);
    expect((await s().publicFetch(`/oauth2/tokens?client_id=${other.id}`, { method: "DELETE" })).status).toBe(404);
  });

  test("DELETE /clients/{id} revokes the client's tokens", async () => {
    await createClient(s(), { client_id: "doomed", client_secret: "doomed-secret-1234", grant_types: ["client_credentials"] });
    const token = (await clientCredentials(s(), "doomed", "doomed-secret-1234")).access_token as string;
    const refresh = await storeRefreshToken(s(), "doomed", crypto.randomUUID());
    expect((await introspect(s(), token)).body.active).toBe(true);
    expect((await s().adminFetch("/clients/doomed", { method: "DELETE" })).status).toBe(204);
    expect((await introspect(s(), token)).body).toEqual({ active: false });
    expect((await introspect(s(), refresh)).body).toEqual({ active: false });
    const db = s().deps.db;
    expect(Number((await db.select({ n: count() }).from(accessTokens).where(eq(accessTokens.clientId, "doomed")))[0]!.n)).toBe(0);
  });
});

test("sessions are sealed at rest by default (PostgreSQL) and plain JSON with encrypt_at_rest: false (PGlite)", async () => {
  for (const [name, sealed] of [["postgres", true], ["pglite", false]] as const) {
    const server = servers[name]!.server;
    const issued = await issue(server, owner.id, { session: { ext: { marker: "visible-if-plain" } } });
    const [row] = await server.deps.db.select({ session: accessTokens.session }).from(accessTokens).where(eq(accessTokens.signature, issued.signature));
    expect(row!.session.includes("visible-if-plain")).toBe(!sealed);
    if (sealed) expect(row!.session).toStartWith("v1.");
    // Only the signature is stored: the token itself appears nowhere in the row.
    expect(JSON.stringify(row)).not.toContain(issued.token);
    expect((await introspect(server, issued.token)).body.ext).toEqual({ marker: "visible-if-plain" });
  }
});
