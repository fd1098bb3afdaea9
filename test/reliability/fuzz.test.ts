/**
 * @module Hostile input: a property-based fuzzer (fast-check) throws malformed, oversized,
 * wrongly typed and unicode-tricky input at every public and admin endpoint. Every answer
 * must be a 4xx JSON error (HTML or a redirect on browser endpoints), never a 5xx or a hang,
 * and a rejected request must leave every table unchanged. RELIABILITY_LONG=1 runs more cases.
 */
import { afterAll, beforeAll, describe, test } from "bun:test";
import fc from "fast-check";
import postgres from "postgres";
import { createClient, startEnv, startTimeout, type Env } from "../flows/kit.ts";

const long = process.env.RELIABILITY_LONG === "1";
/**
 * CI replays fixed cases (a seed per run of the suite that never changes) so that a red CI
 * means a regression, not a lucky draw; FUZZ_SEED=random (or the long run) explores new ones.
 * A failure prints its seed: reproduce with FUZZ_SEED=<seed>.
 */
const seed = process.env.FUZZ_SEED === "random" || (long && !process.env.FUZZ_SEED) ? undefined : Number(process.env.FUZZ_SEED ?? 20261128);
/** Cases per endpoint: the short run keeps the whole file well under 30 s. */
const runs = long ? 400 : 40;
const requestTimeoutMs = 5000;

/** Strings that have broken parsers before: control bytes, bidi, surrogates, encodings, huge. */
const tricky = fc.constantFrom(
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\r\n",
  "\t",
  "\u202e",
  "\ufeff",
  "\ud800",
  "\udfff",
  "𝔘𝔫𝔦",
  "é",
  "e\u0301",
  "%",
  "%zz",
  "%00",
  "%E0%A4%A",
  "%2F..%2F",
  "../../etc/passwd",
  "\\",
  "javascript:alert(1)",
  "https://client.test@evil.com/cb",
  "https://client.test/cb%23@evil",
  "http://[::1",
  "null",
  "[]",
  "{}",
  '{"a":',
  "true",
  "-1",
  "1e400",
  "NaN",
  "0x10",
  "' OR 1=1 --",
  "${jndi:ldap://x}",
  "__proto__",
  "constructor",
  "a".repeat(10_000),
  "🙂".repeat(2000),
  "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
  "eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
  "....",
  "a.b.c.d.e",
  "Basic",
  "Basic =",
  "Bearer",
);
const str = fc.oneof(tricky, fc.string({ maxLength: 60 }), fc.string({ unit: "binary", maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 20 }));

const b64url = (s: string) => Buffer.from(s).toString("base64url");
/** JWT-shaped strings: valid base64url segments around random or hostile JSON. */
const jwtLike = fc
  .tuple(fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 }), str)
  .map(([h, p, sig]) => `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(p))}.${b64url(sig)}`);
const tokenish = fc.oneof(str, jwtLike, fc.constantFrom("ory_at_x.y", "ory_rt_", "ory_ac_.", "a.b"));

const wronglyTyped = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(null), fc.integer(), fc.boolean(), fc.array(str, { maxLength: 3 }), fc.dictionary(str, str, { maxKeys: 3 }));

const formParams = [
  "grant_type",
  "code",
  "redirect_uri",
  "client_id",
  "client_secret",
  "refresh_token",
  "scope",
  "audience",
  "code_verifier",
  "client_assertion",
  "client_assertion_type",
  "assertion",
  "token",
  "token_type_hint",
  "response_type",
  "state",
  "nonce",
  "prompt",
  "max_age",
  "id_token_hint",
  "post_logout_redirect_uri",
  "request",
  "request_uri",
  "response_mode",
  "code_challenge",
  "code_challenge_method",
  "claims",
  "login_challenge",
  "consent_challenge",
  "logout_challenge",
  "login_verifier",
  "consent_verifier",
  "logout_verifier",
  "error",
  "error_description",
  "subject",
  "client",
  "notAfter",
];

/** A query string or form body: known names (some repeated), odd names, raw garbage. */
const params = fc.oneof(
  fc.array(fc.tuple(fc.oneof(fc.constantFrom(...formParams), str), tokenish), { maxLength: 8 }).map((pairs) => new URLSearchParams(pairs).toString()),
  str.map((s) => s),
  fc.constantFrom("a=%", "=&=&", "grant_type=client_credentials&grant_type=authorization_code", "%%%", "a=" + "%41".repeat(5000)),
);

const authHeader = fc.oneof(
  fc.constant(undefined),
  str,
  tokenish.map((t) => `Bearer ${t}`),
  str.map((s) => `Basic ${Buffer.from(s).toString("base64")}`),
  fc.tuple(str, str).map(([a, b]) => `Basic ${Buffer.from(`${a}:${b}`).toString("base64")}`),
  fc.constantFrom("Basic !!!", "Basic Og==", "Basic " + "QQ==".repeat(3000), "Bearer  ", "bearer x", "Basic %3A"),
);
const contentType = fc.constantFrom(
  "application/x-www-form-urlencoded",
  "application/json",
  "application/json; charset=utf-16",
  "text/plain",
  "multipart/form-data; boundary=x",
  "application/x-www-form-urlencoded; charset=latin1",
  "",
);

/** A JSON body: hostile documents, wrongly typed fields on a plausible client, deep nesting, or not JSON at all. */
const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.dictionary(
    fc.constantFrom("client_id", "redirect_uris", "grant_types", "scope", "subject", "remember", "remember_for", "grant_scope", "session", "jwks", "metadata", "token_endpoint_auth_method", "issuer", "expires_at", "alg", "kid", "use", "context", "acr", "amr", "error", "status_code", "__proto__"),
    fc.oneof(wronglyTyped, str),
    { maxKeys: 6 },
  ).map((v) => JSON.stringify(v)),
  fc.integer({ min: 60, max: 3000 }).map((d) => "[".repeat(d) + "]".repeat(d)),
  str,
);

/** JSON Patch documents, well-formed and not. */
const patchBody = fc.oneof(
  fc
    .array(
      fc.record(
        {
          op: fc.oneof(fc.constantFrom("add", "remove", "replace", "move", "copy", "test"), str),
          path: fc.oneof(fc.constantFrom("/client_id", "/redirect_uris/-", "/redirect_uris/99", "/metadata/a~2", "/", "", "/scope", "/__proto__/x", "/grant_types/0"), str),
          from: fc.oneof(fc.constantFrom("/scope", "/client_id", "/redirect_uris"), str),
          value: wronglyTyped,
        },
        { requiredKeys: ["op"] },
      ),
      { maxLength: 4 },
    )
    .map((v) => JSON.stringify(v)),
  jsonBody,
);

interface Endpoint {
  listener: "public" | "admin";
  method: string;
  /** Path with a fuzzed segment filled in. */
  path: (segment: string) => string;
  body?: fc.Arbitrary<string>;
  /** Browser endpoints may answer an HTML page or a redirect instead of JSON. */
  browser?: boolean;
  /** Hydra's error fallback page answers 500 by design (oauth2/handler_fallback_endpoints.go). */
  htmlStatus500?: boolean;
}

let env: Env;
let sql: postgres.Sql;
/** Set in beforeAll; the placeholder only names the tests. */
let clientId = "{client}";
let cases = 0;

/** One digest of every table's rows: a rejected request must not change it. */
async function digest(): Promise<string> {
  const tables = await sql<{ name: string }[]>`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`;
  const parts: string[] = [];
  for (const { name } of tables) {
    const [row] = await sql.unsafe(`select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as d from "${name}" t`);
    parts.push(`${name}:${row!.d}`);
  }
  return parts.join(" ");
}

/** A path segment; a lone surrogate becomes %ED%A0%80, a byte sequence that is not UTF-8 at all. */
const seg = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return `${encodeURIComponent(s.replace(/[\ud800-\udfff]/g, ""))}%ED%A0%80`;
  }
};
/** Keeps failure messages readable when the input was 10 kB of "a". */
const clip = (s: string | undefined) => (s === undefined ? undefined : s.length > 160 ? `${s.slice(0, 160)}…(${s.length} chars)` : s);

const endpoints = (): Endpoint[] => [
  { listener: "public", method: "POST", path: () => "/oauth2/token", body: params },
  { listener: "public", method: "POST", path: () => "/oauth2/revoke", body: params },
  { listener: "public", method: "GET", path: (q) => `/userinfo?${q}` },
  { listener: "public", method: "POST", path: () => "/userinfo", body: params },
  { listener: "public", method: "GET", path: (q) => `/oauth2/auth?${q}`, browser: true },
  { listener: "public", method: "POST", path: () => "/oauth2/auth", body: params, browser: true },
  { listener: "public", method: "GET", path: (q) => `/oauth2/sessions/logout?${q}`, browser: true },
  { listener: "public", method: "POST", path: () => "/oauth2/sessions/logout", body: params, browser: true },
  { listener: "public", method: "GET", path: (q) => `/oauth2/fallbacks/error?${q}`, browser: true, htmlStatus500: true },
  { listener: "public", method: "GET", path: (q) => `/oauth2/fallbacks/consent?${q}`, browser: true },
  { listener: "public", method: "GET", path: (q) => `/oauth2/fallbacks/logout/callback?${q}`, browser: true },
  { listener: "public", method: "POST", path: () => "/oauth2/register", body: jsonBody },
  { listener: "public", method: "GET", path: (s) => `/oauth2/register/${seg(s)}` },
  { listener: "public", method: "PUT", path: (s) => `/oauth2/register/${seg(s)}`, body: jsonBody },
  { listener: "public", method: "DELETE", path: (s) => `/oauth2/register/${seg(s)}` },
  { listener: "public", method: "GET", path: (q) => `/.well-known/openid-configuration?${q}` },
  { listener: "admin", method: "POST", path: () => "/clients", body: jsonBody },
  { listener: "admin", method: "GET", path: (q) => `/clients?${q}` },
  { listener: "admin", method: "GET", path: (s) => `/clients/${seg(s)}` },
  { listener: "admin", method: "PUT", path: () => `/clients/${clientId}`, body: jsonBody },
  { listener: "admin", method: "PATCH", path: () => `/clients/${clientId}`, body: patchBody },
  { listener: "admin", method: "PATCH", path: (s) => `/clients/${seg(s)}`, body: patchBody },
  { listener: "admin", method: "PUT", path: () => `/clients/${clientId}/lifespans`, body: jsonBody },
  { listener: "admin", method: "DELETE", path: (s) => `/clients/${seg(s)}x` },
  { listener: "admin", method: "POST", path: (s) => `/keys/${seg(s)}`, body: jsonBody },
  { listener: "admin", method: "PUT", path: (s) => `/keys/${seg(s)}`, body: jsonBody },
  { listener: "admin", method: "PUT", path: (s) => `/keys/${seg(s)}/${seg(s)}`, body: jsonBody },
  { listener: "admin", method: "GET", path: (s) => `/keys/${seg(s)}` },
  { listener: "admin", method: "GET", path: (q) => `/oauth2/auth/requests/login?${q}` },
  { listener: "admin", method: "PUT", path: (q) => `/oauth2/auth/requests/login/accept?${q}`, body: jsonBody },
  { listener: "admin", method: "PUT", path: (q) => `/oauth2/auth/requests/login/reject?${q}`, body: jsonBody },
  { listener: "admin", method: "GET", path: (q) => `/oauth2/auth/requests/consent?${q}` },
  { listener: "admin", method: "PUT", path: (q) => `/oauth2/auth/requests/consent/accept?${q}`, body: jsonBody },
  { listener: "admin", method: "PUT", path: (q) => `/oauth2/auth/requests/consent/reject?${q}`, body: jsonBody },
  { listener: "admin", method: "GET", path: (q) => `/oauth2/auth/requests/logout?${q}` },
  { listener: "admin", method: "PUT", path: (q) => `/oauth2/auth/requests/logout/accept?${q}`, body: jsonBody },
  { listener: "admin", method: "GET", path: (q) => `/oauth2/auth/sessions/consent?${q}` },
  { listener: "admin", method: "DELETE", path: (q) => `/oauth2/auth/sessions/consent?${q}x` },
  { listener: "admin", method: "DELETE", path: (q) => `/oauth2/auth/sessions/login?${q}x` },
  { listener: "admin", method: "POST", path: () => "/oauth2/introspect", body: params },
  { listener: "admin", method: "DELETE", path: (q) => `/oauth2/tokens?${q}x` },
  { listener: "admin", method: "POST", path: () => "/oauth2/flush", body: jsonBody },
  { listener: "admin", method: "POST", path: () => "/trust/grants/jwt-bearer/issuers", body: jsonBody },
  { listener: "admin", method: "GET", path: (s) => `/trust/grants/jwt-bearer/issuers/${seg(s)}` },
];

describe("fuzz: every endpoint answers hostile input with a 4xx, never a 5xx or a hang", () => {
  beforeAll(async () => {
    env = await startEnv("PostgreSQL", "reliability_fuzz", { oidc: { dynamic_client_registration: { enabled: true } } });
    sql = postgres(env.server.loaded.config.dsn, { max: 1, onnotice: () => {} });
    clientId = (await createClient(env, { client_id: "fuzz-target" })).client_id;
  }, startTimeout);
  afterAll(async () => {
    console.log(`fuzz: ${cases} cases over ${endpoints().length} endpoints (${long ? "long" : "short"} run)`);
    await sql?.end();
    await env?.stop();
  });

  for (const ep of endpoints()) {
    const name = `${ep.listener} ${ep.method} ${ep.path("{x}")}`;
    test(name, async () => {
      const headerArb = fc.record({ authorization: authHeader, contentType, extra: fc.option(str, { nil: undefined }) });
      await fc.assert(
        fc.asyncProperty(str.chain((s) => fc.oneof(fc.constant(s), params)), ep.body ?? fc.constant(undefined), headerArb, async (segment, body, h) => {
          cases++;
          const headers: Record<string, string> = {};
          // Headers must be ByteStrings; fetch refuses anything else before it is sent.
          const header = (k: string, v: string | undefined) => {
            if (v !== undefined && /^[\x20-\x7e]*$/.test(v)) headers[k] = v;
          };
          header("Authorization", h.authorization);
          if (h.contentType) headers["Content-Type"] = h.contentType;
          header("Cookie", h.extra);
          header("X-Forwarded-Proto", h.extra);
          const before = await digest();
          const fetcher = ep.listener === "public" ? env.server.publicFetch : env.server.adminFetch;
          const path = ep.path(segment);
          let res: Response;
          try {
            res = await fetcher(path, { method: ep.method, headers, body, redirect: "manual", signal: AbortSignal.timeout(requestTimeoutMs) });
          } catch (err) {
            throw new Error(`${name}: no answer within ${requestTimeoutMs} ms (${(err as Error).message}) for ${JSON.stringify({ segment: clip(segment), body: clip(body), headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, clip(v)])) })}`);
          }
          const text = await res.text();
          const where = `${name} → ${res.status} ${clip(text)} for ${JSON.stringify({ segment: clip(segment), body: clip(body), headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, clip(v)])) })}`;
          if (ep.htmlStatus500 && res.status === 500 && text.startsWith("<!DOCTYPE html>")) return;
          if (res.status >= 500) throw new Error(`5xx: ${where}`);
          // Bun itself refuses oversized headers (431) and bodies (413) before any handler runs.
          if ((res.status === 431 || res.status === 413) && text === "") return;
          if (res.status >= 400) {
            const type = res.headers.get("content-type") ?? "";
            if (type.includes("json")) {
              const parsed = JSON.parse(text);
              if (typeof parsed.error !== "string") throw new Error(`error without "error": ${where}`);
            } else if (!(ep.browser && type.includes("html"))) throw new Error(`non-JSON error: ${where}`);
            if ((await digest()) !== before) throw new Error(`a rejected request changed the database: ${where}`);
          }
        }),
        { numRuns: runs, seed, endOnFailure: true, interruptAfterTimeLimit: long ? 120_000 : 8000, markInterruptAsFailure: false },
      );
    }, 180_000);
  }
});
