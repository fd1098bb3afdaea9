import { expect, test } from "bun:test";
import { clientInputSchema, parseClientInput } from "../../src/clients/schemas.ts";
import { OAuthError } from "../../src/errors.ts";

const config = (supported: string[], defaultScope = ["offline_access", "offline", "openid"]) => ({
  oidc: {
    subject_identifiers: { supported_types: supported, pairwise: { salt: "" } },
    dynamic_client_registration: { enabled: false, default_scope: defaultScope },
  },
});

const hintOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OAuthError);
    return (err as OAuthError).hint;
  }
  throw new Error("expected a validation error");
};

test("pairwise needs a sector_identifier_uri when redirect URIs span hosts (OIDC Core §8.1)", () => {
  const schema = clientInputSchema(config(["public", "pairwise"]));
  expect(
    hintOf(() => parseClientInput(schema, { subject_type: "pairwise", redirect_uris: ["https://a.example/cb", "https://b.example/cb"] })),
  ).toBe("Field sector_identifier_uri is required for subject_type 'pairwise' when redirect_uris use more than one host.");
  expect(parseClientInput(schema, { subject_type: "pairwise", redirect_uris: ["https://a.example/cb", "https://a.example/cb2"] }).fields.subjectType).toBe("pairwise");
  const withSector = parseClientInput(schema, {
    subject_type: "pairwise",
    sector_identifier_uri: "https://a.example/sector.json",
    redirect_uris: ["https://a.example/cb", "https://b.example/cb"],
  });
  expect(withSector.fields.sectorIdentifierUri).toBe("https://a.example/sector.json");
});

test("subject_type defaults to public when supported, else to the first supported type", () => {
  expect(parseClientInput(clientInputSchema(config(["public", "pairwise"])), {}).fields.subjectType).toBe("public");
  expect(parseClientInput(clientInputSchema(config(["pairwise"])), {}).fields.subjectType).toBe("pairwise");
  expect(hintOf(() => parseClientInput(clientInputSchema(config(["pairwise"])), { subject_type: "public" }))).toBe(
    "Subject type public is not supported by server, only [pairwise] are allowed.",
  );
});

test("an empty scope takes oidc.dynamic_client_registration.default_scope", () => {
  const schema = clientInputSchema(config(["public"], ["openid", "email"]));
  expect(parseClientInput(schema, {}).fields.scope).toBe("openid email");
  expect(parseClientInput(schema, { scope: "" }).fields.scope).toBe("openid email");
  expect(parseClientInput(schema, { scope: "custom" }).fields.scope).toBe("custom");
});

test("the secret is optional, empty counts as none, and is measured in bytes", () => {
  const schema = clientInputSchema(config(["public"]));
  expect(parseClientInput(schema, { client_secret: "" }).clientSecret).toBeUndefined();
  expect(parseClientInput(schema, { client_secret: "ééé" }).clientSecret).toBe("ééé"); // 6 bytes
  expect(hintOf(() => parseClientInput(schema, { client_secret: "éé" }))).toBe("Field client_secret must contain a secret that is at least 6 characters long.");
});
