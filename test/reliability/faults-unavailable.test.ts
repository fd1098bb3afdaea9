/**
 * @module Which driver errors count as "database unavailable" (503 temporarily_unavailable with
 * Retry-After) and which stay a 500: the error shapes postgres.js and drizzle really produce.
 */
import { describe, expect, test } from "bun:test";
import { OAuthError } from "../../src/errors.ts";
import { toOAuthError } from "../../src/server/render-error.ts";
import { isDatabaseUnavailable } from "../../src/storage/db.ts";

/** As postgres.js builds them (src/errors.js), wrapped the way drizzle does ("Failed query: …" with cause). */
const driver = (props: Record<string, unknown>, message = "x") => Object.assign(new Error(message), props);
const wrapped = (cause: unknown) => new Error("Failed query: select 1\nparams: ", { cause });

describe("isDatabaseUnavailable / toOAuthError", () => {
  const unavailable: [string, unknown][] = [
    ["ECONNREFUSED", driver({ code: "ECONNREFUSED", errno: -111 }, "connect ECONNREFUSED 127.0.0.1:5432")],
    ["CONNECTION_CLOSED", driver({ code: "CONNECTION_CLOSED" }, "write CONNECTION_CLOSED 127.0.0.1:5432")],
    ["CONNECTION_ENDED", driver({ code: "CONNECTION_ENDED" })],
    ["CONNECT_TIMEOUT", driver({ code: "CONNECT_TIMEOUT" })],
    ["57P01 admin_shutdown", driver({ name: "PostgresError", code: "57P01", severity: "FATAL" }, "terminating connection due to administrator command")],
    ["57P03 cannot_connect_now", driver({ name: "PostgresError", code: "57P03" }, "the database system is starting up")],
    ["08006 connection_failure", driver({ name: "PostgresError", code: "08006" })],
    ["53300 too_many_connections", driver({ name: "PostgresError", code: "53300" })],
    ["57014 statement timeout", driver({ name: "PostgresError", code: "57014" }, "canceling statement due to statement timeout")],
    ["PGlite closed", new Error("PGlite is closed")],
  ];
  for (const [name, err] of unavailable) {
    test(`${name}, bare and wrapped by drizzle: 503 temporarily_unavailable with Retry-After`, () => {
      for (const e of [err, wrapped(err)]) {
        expect(isDatabaseUnavailable(e)).toBe(true);
        const o = toOAuthError(e);
        expect([o.status, o.code]).toEqual([503, "temporarily_unavailable"]);
        expect(Number(o.headers?.["Retry-After"])).toBeGreaterThan(0);
      }
    });
  }

  const bugs: [string, unknown][] = [
    ["23505 unique_violation", driver({ name: "PostgresError", code: "23505" })],
    ["42P01 undefined_table", driver({ name: "PostgresError", code: "42P01" })],
    ["a TypeError", new TypeError("cannot read properties of undefined")],
    ["a string", "boom"],
  ];
  for (const [name, err] of bugs) {
    test(`${name}: still a 500 server_error`, () => {
      expect(isDatabaseUnavailable(wrapped(err))).toBe(false);
      expect(toOAuthError(wrapped(err)).status).toBe(500);
    });
  }

  test("an OAuthError passes through unchanged", () => {
    const e = new OAuthError("invalid_grant", 400, "x");
    expect(toOAuthError(e)).toBe(e);
  });
});
