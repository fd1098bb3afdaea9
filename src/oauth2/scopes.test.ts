import { expect, test } from "bun:test";
import { audienceAllowed, firstDisallowedScope, parseScope, scopeAllowed } from "./scopes.ts";

test("parseScope splits on spaces and rejects characters outside RFC 6749 §3.3", () => {
  expect(parseScope("openid  offline openid")).toEqual(["openid", "offline"]);
  expect(parseScope("")).toEqual([]);
  expect(parseScope("a\"b")).toBeUndefined();
  expect(parseScope("a\\b")).toBeUndefined();
  expect(parseScope("é")).toBeUndefined();
});

test("wildcard strategy as fosite's", () => {
  const allowed = ["foo.*", "bar", "baz.*.read"];
  expect(scopeAllowed("wildcard", allowed, "foo.x")).toBe(true);
  expect(scopeAllowed("wildcard", allowed, "foo.x.y")).toBe(true);
  expect(scopeAllowed("wildcard", allowed, "foo")).toBe(false);
  expect(scopeAllowed("wildcard", allowed, "bar")).toBe(true);
  expect(scopeAllowed("wildcard", allowed, "bar.x")).toBe(false);
  expect(scopeAllowed("wildcard", allowed, "baz.1.read")).toBe(true);
  expect(scopeAllowed("wildcard", allowed, "baz.1.write")).toBe(false);
  expect(firstDisallowedScope("wildcard", allowed, ["bar", "nope", "foo.a"])).toBe("nope");
});

test("exact and hierarchical strategies", () => {
  expect(scopeAllowed("exact", ["foo.*"], "foo.x")).toBe(false);
  expect(scopeAllowed("exact", ["foo.*"], "foo.*")).toBe(true);
  expect(scopeAllowed("DEPRECATED_HIERARCHICAL_SCOPE_STRATEGY", ["foo"], "foo.bar")).toBe(true);
  expect(scopeAllowed("DEPRECATED_HIERARCHICAL_SCOPE_STRATEGY", ["foo"], "foobar")).toBe(false);
});

test("audience matches exactly or as a URL path extension of the same origin", () => {
  const allowed = ["https://api.example.com", "urn:thing"];
  expect(audienceAllowed(allowed, "https://api.example.com")).toBe(true);
  expect(audienceAllowed(allowed, "https://api.example.com/v1")).toBe(true);
  expect(audienceAllowed(allowed, "https://api.example.com.evil.com")).toBe(false);
  expect(audienceAllowed(allowed, "https://api.example.comx/v1")).toBe(false);
  expect(audienceAllowed(allowed, "urn:thing")).toBe(true);
  expect(audienceAllowed(allowed, "urn:thing2")).toBe(false);
});
