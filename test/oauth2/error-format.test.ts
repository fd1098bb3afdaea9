/**
 * RFC 6749 §5.2 error bodies as Hydra v1 writes them (hydra-v1 §0.1): by default the hint is
 * folded into error_description; oauth2.include_legacy_error_fields adds error_hint and
 * status_code; error_debug appears only with oauth2.expose_internal_errors.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { form, startOAuthServer, tokenRequest, type OAuthServer } from "./support.ts";

const variants = {
  default: {},
  legacy: { oauth2: { include_legacy_error_fields: true } },
  legacyWithDebug: { oauth2: { include_legacy_error_fields: true, expose_internal_errors: true } },
} as const;

const servers: Partial<Record<keyof typeof variants, OAuthServer>> = {};
beforeAll(async () => {
  for (const [name, config] of Object.entries(variants)) {
    servers[name as keyof typeof variants] = await startOAuthServer("postgres", `errfmt_${name}`, config);
  }
}, 60_000);
afterAll(async () => {
  await Promise.all(Object.values(servers).map((s) => s?.stop()));
});

/** A malformed client assertion: 401 invalid_client with a hint, and a debug message from the JWT parser. */
const badAssertion = form({
  grant_type: "client_credentials",
  client_id: "x",
  client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
  client_assertion: "not-a-jwt",
});
const unsupported = (s: OAuthServer) => tokenRequest(s.server, badAssertion);

describe("token endpoint error bodies", () => {
  test("default: exactly error and error_description, the hint folded in", async () => {
    const res = await unsupported(servers.default!);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBeNull();
    expect(Object.keys(res.body).sort()).toEqual(["error", "error_description"]);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  test("include_legacy_error_fields: error_hint and status_code, description without the hint, no debug", async () => {
    const plain = await unsupported(servers.default!);
    const legacy = await unsupported(servers.legacy!);
    expect(legacy.status).toBe(plain.status);
    expect(legacy.body.error).toBe(plain.body.error);
    expect(legacy.body.status_code).toBe(legacy.status);
    expect(typeof legacy.body.error_hint).toBe("string");
    // Default = description + " " + hint; legacy splits them again.
    expect(plain.body.error_description).toBe(`${legacy.body.error_description} ${legacy.body.error_hint}`);
    expect(legacy.body).not.toHaveProperty("error_debug");
  });

  test("error_debug only with expose_internal_errors, and never a quote character", async () => {
    const hidden = await tokenRequest(servers.legacy!.server, badAssertion);
    const shown = await tokenRequest(servers.legacyWithDebug!.server, badAssertion);
    expect(hidden.status).toBe(shown.status);
    expect(hidden.body).not.toHaveProperty("error_debug");
    expect(typeof shown.body.error_debug).toBe("string");
    for (const value of Object.values(shown.body)) if (typeof value === "string") expect(value).not.toContain('"');
  });
});
