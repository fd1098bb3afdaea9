/** The official Hydra v1 SDK (@ory/hydra-client 1.11.8) drives the trust API and /oauth2/flush, on PostgreSQL. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { AdminApi, Configuration, type JSONWebKey } from "@ory/hydra-client";
import { backends, type Started } from "../clients/backends.ts";
import { inOneYear, issuerKey } from "./support.ts";

let started: Started;
beforeAll(async () => {
  started = await backends[0]!.start("trust_sdk");
});
afterAll(async () => {
  await started?.stop();
});

const sdk = () => new AdminApi(new Configuration({ basePath: started.server.adminUrl }));

test("trustJwtGrantIssuer → listTrustedJwtGrantIssuers → getTrustedJwtGrantIssuer → deleteTrustedJwtGrantIssuer", async () => {
  const api = sdk();
  const key = await issuerKey("sdk-kid", "RS256");
  const created = await api.trustJwtGrantIssuer({
    issuer: "https://sdk.example.com",
    subject: "sdk-user",
    scope: ["read"],
    jwk: key.publicJwk as JSONWebKey,
    expires_at: inOneYear(),
  });
  expect(created.status).toBe(201);
  expect(created.data).toMatchObject({ issuer: "https://sdk.example.com", subject: "sdk-user", allow_any_subject: false, scope: ["read"], public_key: { set: "https://sdk.example.com", kid: "sdk-kid" } });

  const list = await api.listTrustedJwtGrantIssuers("https://sdk.example.com", 10, 0);
  expect(list.data).toEqual([created.data]);
  expect((await api.getTrustedJwtGrantIssuer(created.data.id!)).data).toEqual(created.data);
  expect((await api.deleteTrustedJwtGrantIssuer(created.data.id!)).status).toBe(204);
  const gone = await api.getTrustedJwtGrantIssuer(created.data.id!).catch((err: { response: { status: number } }) => err.response);
  expect(gone.status).toBe(404);
});

test("flushInactiveOAuth2Tokens sends {notAfter} and gets 204", async () => {
  const res = await sdk().flushInactiveOAuth2Tokens({ notAfter: new Date(Date.now() - 3600_000).toISOString() });
  expect(res.status).toBe(204);
});
