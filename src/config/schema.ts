/**
 * @module The one list of configuration keys, their types and defaults.
 * Key names are Hydra v1's (`spec/config.json`); keys marked "Gatehouse" are ours.
 * Environment names are derived from the path (serve.public.port → SERVE_PUBLIC_PORT).
 */
import * as v from "valibot";
import {
  parseBool,
  parseDuration,
  parseIntLike,
  parseOctalMode,
  parseStringList,
  parseUrl,
  reader,
  show,
} from "./coerce.ts";

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  v.optional(
    reader(`an integer from ${min} to ${max}`, (x) => {
      const n = parseIntLike(x);
      return n !== undefined && n >= min && n <= max ? n : undefined;
    }),
    def,
  );
const bool = (def: boolean) => v.optional(reader("true or false", parseBool), def);
const text = (def: string) =>
  v.optional(
    reader("a string", (x) => (typeof x === "string" ? x : typeof x === "number" ? String(x) : undefined)),
    def,
  );
const list = (def: string[]) =>
  v.optional(reader("a list of strings (a YAML list, a CSV or a JSON array)", parseStringList), def);
/** Milliseconds. */
const duration = (def: string) =>
  v.optional(reader('a duration such as "30s", "10m", "1h" or "1h30m"', parseDuration), def);
const oneOf = <const T extends string>(values: readonly T[], def: T) =>
  v.optional(
    reader(`one of ${values.join(", ")}`, (x) =>
      typeof x === "string" && (values as readonly string[]).includes(x) ? (x as T) : undefined,
    ),
    def,
  );
/**
 * An absolute http(s) URL kept as text; "" means unset. Other schemes are refused:
 * `localhost:3000/login` parses as a URL with the scheme "localhost:".
 */
const url = (def = "") =>
  v.optional(
    reader("an absolute http(s) URL", (x) => {
      if (x === "" || x === undefined) return "";
      const parsed = parseUrl(x);
      return parsed && (parsed.protocol === "https:" || parsed.protocol === "http:") ? String(x).trim() : undefined;
    }),
    def,
  );
/** Read as chmod reads it; a decimal value (Hydra's 493) gets told its octal spelling. */
const socketMode = (def: string) =>
  v.optional(
    v.pipe(
      v.unknown(),
      v.rawTransform<unknown, number>(({ dataset, addIssue, NEVER }) => {
        const mode = parseOctalMode(dataset.value);
        if (mode !== undefined) return mode;
        const asDecimal = parseIntLike(dataset.value);
        const hint =
          asDecimal !== undefined && asDecimal >= 0 && asDecimal <= 0o777
            ? ` (if ${asDecimal} is meant as a decimal number, write it as ${"0" + asDecimal.toString(8)})`
            : "";
        addIssue({
          message: `expected an octal file mode such as 770, 0770 or 0o770 (digits 0-7, at most 0777), got ${show(dataset.value)}${hint}`,
        });
        return NEVER;
      }),
    ),
    def,
  );
/** Token-safe characters only: a prefix ends up in headers, forms and URLs. */
const tokenPrefix = (def: string) =>
  v.optional(
    reader("up to 32 characters from A-Z a-z 0-9 _ -", (x) => (typeof x === "string" && /^[A-Za-z0-9_-]{0,32}$/.test(x) ? x : undefined)),
    def,
  );
const section = <T extends v.ObjectEntries>(entries: T) =>
  v.optional(v.object(entries), {} as v.InferInput<v.ObjectSchema<T, undefined>>);
/** Keys Hydra has that Gatehouse accepts and ignores (tracing, telemetry, HSM…). */
const ignored = () => v.optional(v.unknown());

const tlsSource = section({ path: text(""), base64: text("") });

const cors = section({
  enabled: bool(false),
  allowed_origins: list(["*"]),
  allowed_methods: list(["POST", "GET", "PUT", "PATCH", "DELETE"]),
  allowed_headers: list(["Authorization", "Content-Type"]),
  exposed_headers: list(["Content-Type"]),
  allow_credentials: bool(true),
  options_passthrough: bool(false),
  max_age: int(0),
  debug: bool(false),
});

const listener = (port: number) =>
  section({
    host: text(""),
    port: int(port, 0, 65535),
    socket: section({
      owner: text(""),
      group: text(""),
      // Hydra's default, 0755.
      mode: socketMode("0755"),
    }),
    cors,
    access_log: section({ disable_for_health: bool(false) }),
    tls: section({
      enabled: bool(true),
      cert: tlsSource,
      key: tlsSource,
      allow_termination_from: list([]),
    }),
  });

export const ConfigSchema = v.object({
  version: ignored(),
  dsn: text(""),
  /** Gatehouse: the embedded database (used when dsn is empty). */
  database: section({
    embedded: section({ data_dir: text("./gatehouse-data") }),
    /** Gatehouse: how long start-up retries an unreachable database. */
    connect_timeout: duration("30s"),
  }),
  serve: section({
    public: listener(4444),
    admin: listener(4445),
    tls: section({
      cert: tlsSource,
      key: tlsSource,
      allow_termination_from: list([]),
    }),
    cookies: section({
      same_site_mode: oneOf(["Strict", "Lax", "None"] as const, "Lax"),
      same_site_legacy_workaround: bool(false),
    }),
    /** Gatehouse: how long SIGTERM waits for in-flight requests. */
    shutdown_timeout: duration("10s"),
    /** Gatehouse: largest request body in bytes (default 1 MiB); bigger ones are refused with 413. */
    request_body_limit: int(1024 * 1024, 1024),
    /**
     * Gatehouse: a connection that sends nothing for this long (a stalled request line,
     * headers or body, or an idle keep-alive) is closed. Bun's idleTimeout, in whole seconds
     * up to 255; 0 turns it off.
     */
    idle_timeout: v.optional(
      reader('a duration from "0s" to "255s", such as "10s"', (x) => {
        const ms = parseDuration(x);
        return ms !== undefined && ms >= 0 && ms <= 255_000 ? ms : undefined;
      }),
      "10s",
    ),
  }),
  /**
   * Outbound HTTP made on a client's behalf (lib/outbound.ts); Hydra v2's keys. Hydra's default
   * is false; Gatehouse refuses private ranges unless told otherwise (SSRF).
   */
  clients: section({
    http: section({
      disallow_private_ip_ranges: bool(true),
      /** URLs (compared without query and fragment) that may be reached even when private. */
      private_ip_exception_urls: list([]),
    }),
  }),
  secrets: section({
    system: list([]),
    cookie: list([]),
  }),
  urls: section({
    self: section({ issuer: url(), public: url() }),
    login: url(),
    consent: url(),
    logout: url(),
    error: url(),
    post_logout_redirect: url(),
  }),
  ttl: section({
    login_consent_request: duration("30m"),
    access_token: duration("1h"),
    // -1 = refresh tokens never expire (Hydra).
    refresh_token: v.optional(
      reader('a duration such as "720h", or -1 for never', (x) =>
        x === -1 || x === "-1" ? -1 : parseDuration(x),
      ),
      "720h",
    ),
    id_token: duration("1h"),
    auth_code: duration("10m"),
  }),
  oauth2: section({
    expose_internal_errors: bool(false),
    include_legacy_error_fields: bool(false),
    session: section({ encrypt_at_rest: bool(true) }),
    exclude_not_before_claim: bool(false),
    allowed_top_level_claims: list([]),
    hashers: section({
      /** Gatehouse: which Bun.password algorithm hashes client secrets. */
      algorithm: oneOf(["bcrypt", "argon2id"] as const, "bcrypt"),
      bcrypt: section({ cost: int(10, 4, 31) }),
      argon2: section({
        memory: int(65536, 1024),
        iterations: int(2, 1),
      }),
    }),
    pkce: section({
      enforced: bool(false),
      enforced_for_public_clients: bool(false),
    }),
    client_credentials: section({ default_grant_allowed_scope: bool(false) }),
    grant: section({
      jwt: section({
        jti_optional: bool(false),
        iat_optional: bool(false),
        max_ttl: duration("720h"),
      }),
      refresh_token: section({ rotation_grace_period: duration("0s") }),
    }),
    refresh_token_hook: url(),
    /** Gatehouse: prefixes of opaque tokens, so that secret scanners can spot a leaked one. */
    token_prefix: section({
      access_token: tokenPrefix("gth_at_"),
      refresh_token: tokenPrefix("gth_rt_"),
      authorize_code: tokenPrefix("gth_ac_"),
      /** RFC 7592 registration access tokens (DCR, clients/dynamic-registration.ts). */
      registration_access_token: tokenPrefix("gth_rat_"),
    }),
  }),
  strategies: section({
    access_token: oneOf(["opaque", "jwt"] as const, "opaque"),
    scope: oneOf(["wildcard", "exact", "DEPRECATED_HIERARCHICAL_SCOPE_STRATEGY"] as const, "wildcard"),
  }),
  oidc: section({
    subject_identifiers: section({
      supported_types: list(["public"]),
      pairwise: section({ salt: text("") }),
    }),
    dynamic_client_registration: section({
      enabled: bool(false),
      default_scope: list(["offline_access", "offline", "openid"]),
    }),
  }),
  webfinger: section({
    jwks: section({ broadcast_keys: list(["hydra.openid.id-token"]) }),
    oidc_discovery: section({
      jwks_url: url(),
      token_url: url(),
      auth_url: url(),
      client_registration_url: url(),
      userinfo_url: url(),
      supported_claims: list([]),
      supported_scope: list([]),
    }),
  }),
  /** Gatehouse: how the signing key sets created on first start are generated. */
  keys: section({
    first_start: section({
      // Asymmetric only: these keys are published and verified by others.
      algorithm: oneOf(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const, "RS256"),
      rsa_bits: v.optional(
        reader("2048, 3072 or 4096", (x) => {
          const n = parseIntLike(x);
          return n === 2048 || n === 3072 || n === 4096 ? n : undefined;
        }),
        "2048",
      ),
    }),
  }),
  /**
   * Gatehouse: the built-in example login, consent and logout app (src/example-app/) under
   * /example/ on the public listener. Off by default; `--dev` turns it on unless this key is
   * set. When on, urls.login, urls.consent and urls.logout point to it unless they are set.
   */
  example_app: section({ enabled: bool(false) }),
  log: section({
    level: oneOf(["panic", "fatal", "error", "warn", "info", "debug", "trace"] as const, "info"),
    format: oneOf(["text", "json", "json_pretty"] as const, "text"),
    leak_sensitive_values: bool(false),
    redaction_text: text(""),
  }),
  tracing: ignored(),
  profiling: ignored(),
  sqa: ignored(),
  cgroups: ignored(),
  hsm: ignored(),
});

export type Config = v.InferOutput<typeof ConfigSchema>;
export type ListenerConfig = Config["serve"]["public"];

/** Top-level keys Hydra knows that Gatehouse reads but does not act on. */
export const ignoredKeys = ["tracing", "profiling", "sqa", "cgroups", "hsm"] as const;
