import { expect, test } from "bun:test";
import { canonicalLifespan, effectiveLifespanMs, formatGoDuration, parseGoDuration } from "../../src/clients/lifespans.ts";
import { emptyLifespans } from "../../src/clients/types.ts";

test("Go durations parse as time.ParseDuration does", () => {
  const s = 1_000_000_000n;
  expect(parseGoDuration("1h")).toBe(3600n * s);
  expect(parseGoDuration("1h30m")).toBe(5400n * s);
  expect(parseGoDuration("1.5h")).toBe(5400n * s);
  expect(parseGoDuration("300ms")).toBe(300_000_000n);
  expect(parseGoDuration("2us")).toBe(2000n);
  expect(parseGoDuration("2µs")).toBe(2000n);
  expect(parseGoDuration("1h0m0s")).toBe(3600n * s);
  expect(parseGoDuration(".5s")).toBe(500_000_000n);
  expect(parseGoDuration("0")).toBe(0n);
  for (const bad of ["", "1", "h", "1d", "-1h", "+1h", "1 h", "1h ", ".s", "3000000h"]) expect(parseGoDuration(bad)).toBeUndefined();
});

test("Go durations print as Duration.String() does", () => {
  const cases: [string, string][] = [
    ["31h", "31h0m0s"],
    ["90s", "1m30s"],
    ["1.5s", "1.5s"],
    ["500ms", "500ms"],
    ["1500us", "1.5ms"],
    ["2us", "2µs"],
    ["7ns", "7ns"],
    ["1h0.5s", "1h0m0.5s"],
    ["720h", "720h0m0s"],
  ];
  for (const [input, out] of cases) expect(canonicalLifespan(input)).toBe(out);
  expect(formatGoDuration(0n)).toBe("0s");
  expect(canonicalLifespan("0s")).toBeUndefined();
});

test("effective lifespan: the client's own value, else the configured one", () => {
  const lifespans = { ...emptyLifespans(), client_credentials_grant_access_token_lifespan: "1m30s" };
  expect(effectiveLifespanMs({ lifespans }, "client_credentials", "access_token", 3_600_000)).toBe(90_000);
  expect(effectiveLifespanMs({ lifespans }, "authorization_code", "access_token", 3_600_000)).toBe(3_600_000);
  expect(effectiveLifespanMs({ lifespans }, "client_credentials", "id_token", 1000)).toBe(1000);
});
