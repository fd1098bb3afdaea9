import { expect, test } from "bun:test";
import { generateOpaqueToken, opaqueTokenSignature } from "./opaque-token.ts";

const a = "secret-a-0123456789";
const b = "secret-b-0123456789";

test("round trip, prefix, and only the signature identifies the token", () => {
  const t = generateOpaqueToken([a], "access_token", "gth_at_");
  expect(t.token.startsWith("gth_at_")).toBe(true);
  expect(t.token.endsWith(`.${t.signature}`)).toBe(true);
  expect(opaqueTokenSignature([a], "access_token", "gth_at_", t.token)).toBe(t.signature);
});

test("rejects other kinds, forged signatures, unknown secrets and junk", () => {
  const t = generateOpaqueToken([a], "access_token", "gth_at_");
  expect(opaqueTokenSignature([a], "refresh_token", "gth_at_", t.token)).toBeUndefined();
  expect(opaqueTokenSignature([b], "access_token", "gth_at_", t.token)).toBeUndefined();
  expect(opaqueTokenSignature([a], "access_token", "gth_at_", `${t.token.slice(0, -2)}xx`)).toBeUndefined();
  expect(opaqueTokenSignature([a], "access_token", "gth_at_", "gth_at_nodot")).toBeUndefined();
  expect(opaqueTokenSignature([a], "access_token", "gth_at_", t.token.replace("gth_at_", "gth_rt_"))).toBeUndefined();
});

test("a rotated secret still verifies tokens it signed", () => {
  const t = generateOpaqueToken([a], "refresh_token", "gth_rt_");
  expect(opaqueTokenSignature([b, a], "refresh_token", "gth_rt_", t.token)).toBe(t.signature);
});

test("frozen secret lists (the config's, signers kept) sign exactly as fresh lists do", () => {
  const frozen = Object.freeze([a, b]);
  const t = generateOpaqueToken(frozen, "access_token", "gth_at_");
  expect(opaqueTokenSignature([a], "access_token", "gth_at_", t.token)).toBe(t.signature);
  expect(opaqueTokenSignature(frozen, "access_token", "gth_at_", t.token)).toBe(t.signature);
  expect(opaqueTokenSignature(frozen, "refresh_token", "gth_at_", t.token)).toBeUndefined();
  const rotated = generateOpaqueToken([b], "access_token", "gth_at_");
  expect(opaqueTokenSignature(frozen, "access_token", "gth_at_", rotated.token)).toBe(rotated.signature);
  expect(opaqueTokenSignature(Object.freeze([a]), "access_token", "gth_at_", rotated.token)).toBeUndefined();
});
