/**
 * @module Builds the configuration: defaults ← YAML/JSON files ← environment ← flags,
 * parsed once by the schema and frozen. The only module that reads process.env.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import * as v from "valibot";
import YAML, { isScalar, visit } from "yaml";
import { ConfigSchema, ignoredKeys, type Config } from "./schema.ts";
import { show } from "./coerce.ts";
import { parseCidr } from "../lib/cidr.ts";
import { exampleAppPaths } from "../example-app/paths.ts";

export type Source =
  | { kind: "default" }
  | { kind: "file"; file: string }
  | { kind: "env"; name: string }
  | { kind: "flag"; name: string };

/** Switches that are flags only, never config keys (as in Hydra). */
export interface Mode {
  /** `--dev`: insecure defaults allowed, with warnings. */
  dev: boolean;
  /** `--dangerous-force-http`: plain HTTP and an http issuer allowed. */
  forceHttp: boolean;
  /** `--dangerous-allow-insecure-redirect-urls`. */
  insecureRedirectUrls: string[];
}

export interface LoadInput {
  files?: string[];
  env?: Record<string, string | undefined>;
  /** Dot paths to values, e.g. { "dsn": "postgres://…" } from `migrate sql <dsn>`. */
  flags?: Record<string, unknown>;
  mode?: Partial<Mode>;
  /** `migrate` touches no secret: like Hydra's `migrate sql <dsn>`, it runs without one. */
  secretsOptional?: boolean;
}

/** Frozen throughout: config, mode and warnings cannot be changed after loading. */
export interface LoadedConfig {
  config: Config;
  mode: Mode;
  /** Where each leaf that did not come from a default was set. */
  sources: ReadonlyMap<string, Source>;
  warnings: string[];
}

export class ConfigError extends Error {
  /**
   * `warnings` are those gathered before the failure: an unknown key such as
   * `secrets.sytem` is often what explains a "secrets.system: required".
   */
  constructor(
    readonly problems: string[],
    readonly warnings: readonly string[] = [],
  ) {
    super(
      [
        "invalid configuration:",
        ...problems.map((p) => `  - ${p}`),
        ...warnings.map((w) => `  warning: ${w}`),
      ].join("\n"),
    );
    this.name = "ConfigError";
  }
}

/**
 * Hydra's pre-1.9 short names, which our operators' seed configs still use.
 * Only the hosts: PUBLIC_PORT/ADMIN_PORT are what Kubernetes injects for a
 * Service named "public"/"admin" (`tcp://10.0.0.7:4445`), which would break start-up.
 */
const envAliases: Record<string, string> = {
  PUBLIC_HOST: "serve.public.host",
  ADMIN_HOST: "serve.admin.host",
};

type AnySchema = v.GenericSchema & { type: string; wrapped?: AnySchema; entries?: Record<string, AnySchema> };

function unwrap(schema: AnySchema): AnySchema {
  return schema.type === "optional" && schema.wrapped ? unwrap(schema.wrapped) : schema;
}

/** Leaf paths of the schema, with whether the leaf is an ignored Hydra subtree. */
function leafPaths(schema: AnySchema = ConfigSchema as unknown as AnySchema, prefix = ""): string[] {
  const inner = unwrap(schema);
  if (inner.type !== "object" || !inner.entries) return [prefix];
  return Object.entries(inner.entries).flatMap(([key, child]) =>
    leafPaths(child, prefix ? `${prefix}.${key}` : key),
  );
}

const leaves = leafPaths();
const leafSet = new Set(leaves);
const ignoredSet = new Set<string>(ignoredKeys);
/** Paths that hold sections (objects) of the schema, e.g. "serve" and "serve.public". */
const sectionSet = new Set(leaves.flatMap((l) => l.split(".").slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join("."))));

/** Keys whose values are secrets: an error about them says what was expected, never what was given. */
function isSecretPath(path: string): boolean {
  return /^(secrets(\.|$)|dsn$|oidc\.subject_identifiers\.pairwise\.salt$)|\.key\.base64$/.test(path);
}

export function envNameOf(path: string): string {
  return path.replace(/\./g, "_").toUpperCase();
}

function setPath(tree: Record<string, unknown>, path: string, value: unknown) {
  const parts = path.split(".");
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Walks a file's tree: records the source of each leaf it sets, and names unknown keys. */
function collectFileLeaves(
  node: unknown,
  prefix: string,
  file: string,
  sources: Map<string, Source>,
  unknown: string[],
) {
  if (prefix && (leafSet.has(prefix) || ignoredSet.has(prefix.split(".")[0]!))) {
    sources.set(prefix, { kind: "file", file });
    return;
  }
  if (!isPlainObject(node)) {
    // A known section given a scalar or a list: the schema reports it, from this file.
    if (prefix) sources.set(prefix, { kind: "file", file });
    return;
  }
  for (const [key, child] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (leafSet.has(path) || sectionSet.has(path)) {
      collectFileLeaves(child, path, file, sources, unknown);
    } else if (ignoredSet.has(path)) {
      sources.set(path, { kind: "file", file });
    } else {
      unknown.push(path);
    }
  }
}

/**
 * Copies as it merges: a YAML alias (`cors: *shared`) yields one object in two
 * places, and an env override of one of them must not change the other.
 */
function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>) {
  for (const [key, value] of Object.entries(from)) {
    const existing = into[key];
    if (isPlainObject(value)) {
      into[key] = deepMerge(isPlainObject(existing) ? existing : {}, value);
    } else {
      into[key] = Array.isArray(value) ? [...value] : value;
    }
  }
  return into;
}

function deletePath(tree: Record<string, unknown>, path: string) {
  const parts = path.split(".");
  let node: unknown = tree;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(node)) return;
    node = node[part];
  }
  if (isPlainObject(node)) delete node[parts.at(-1)!];
}

export function describeSource(source: Source | undefined): string {
  switch (source?.kind) {
    case "file":
      return `from file ${source.file}`;
    case "env":
      return `from env ${source.name}`;
    case "flag":
      return `from flag ${source.name}`;
    default:
      return "default";
  }
}

/** The source of a path, or of the nearest ancestor that was set as a whole. */
function sourceOf(sources: ReadonlyMap<string, Source>, path: string): Source | undefined {
  for (let p = path; p; p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "") {
    const s = sources.get(p);
    if (s) return s;
  }
  return undefined;
}

/** YAML's null spellings; under the failsafe schema they arrive as these strings. */
const yamlNull = /^(|~|null|Null|NULL)$/;

/** The file as a tree of strings, or the one problem that stops it being read. */
function readConfigFile(file: string): Record<string, unknown> | string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return `config file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`;
  }
  // The failsafe schema keeps every scalar as the text the operator wrote, so
  // `mode: 0770` stays "0770" (YAML 1.2 would make it 770, `0o770` 504) and the
  // schema's readers convert once, exactly as they convert environment strings.
  // Merge keys (`<<: *defaults`) are on, as in Hydra's YAML reader.
  const doc = YAML.parseDocument(text, { schema: "failsafe", merge: true });
  if (doc.errors.length > 0) {
    return `config file ${file}: not valid YAML or JSON: ${doc.errors[0]!.message.split("\n")[0]}`;
  }
  // A plain (unquoted) null or an empty value means "not set", so a section whose
  // keys are all commented out keeps its defaults; a quoted "null" stays a string.
  visit(doc, {
    Pair(_, pair) {
      const value = pair.value;
      if (value === null || (isScalar(value) && value.type === "PLAIN" && yamlNull.test(String(value.value)))) {
        return visit.REMOVE;
      }
      return undefined;
    },
  });
  const tree: unknown = doc.toJS();
  if (tree === null || tree === undefined || (typeof tree === "string" && yamlNull.test(tree))) return {};
  if (!isPlainObject(tree)) return `config file ${file}: expected a mapping of keys at the top level`;
  return tree;
}

/** One line for a schema issue: key, what was expected, what was given (unless secret), source. */
function describeIssue(issue: v.BaseIssue<unknown>, sources: ReadonlyMap<string, Source>): string {
  const path = v.getDotPath(issue) ?? "(top level)";
  let message = issue.message.startsWith("expected")
    ? issue.message
    : issue.type === "object"
      ? `expected a mapping of keys, got ${show(issue.input)}`
      : `expected ${issue.expected ?? "a valid value"}, got ${show(issue.input)}`;
  if (isSecretPath(path)) message = message.split(show(issue.input)).join("(a secret, not shown)");
  return `${path}: ${message} (${describeSource(sourceOf(sources, path))})`;
}

export function loadConfig(input: LoadInput = {}): LoadedConfig {
  const env = input.env ?? {};
  const sources = new Map<string, Source>();
  const warnings: string[] = [];
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];

  for (const file of input.files ?? []) {
    const doc = readConfigFile(file);
    if (typeof doc === "string") {
      problems.push(doc);
      continue;
    }
    const unknown: string[] = [];
    collectFileLeaves(doc, "", file, sources, unknown);
    for (const key of unknown) warnings.push(`config file ${file}: unknown key "${key}" is ignored`);
    deepMerge(raw, doc);
  }
  for (const key of ignoredKeys) {
    if (raw[key] !== undefined) warnings.push(`config key "${key}" is not supported by Gatehouse and is ignored`);
  }
  // What an unreadable file would have set is unknown: checking the rest would only add noise.
  if (problems.length > 0) throw new ConfigError(problems, warnings);

  for (const [alias, path] of Object.entries(envAliases)) {
    const value = env[alias];
    if (value !== undefined && value !== "" && (env[envNameOf(path)] ?? "") === "") {
      setPath(raw, path, value);
      sources.set(path, { kind: "env", name: alias });
    }
  }
  for (const path of leaves) {
    if (ignoredSet.has(path) || path === "version") continue;
    const name = envNameOf(path);
    const value = env[name];
    // An empty variable (e.g. `DSN=` in a systemd env file) counts as unset.
    if (value === undefined || value === "") continue;
    setPath(raw, path, value);
    sources.set(path, { kind: "env", name });
  }

  for (const [path, value] of Object.entries(input.flags ?? {})) {
    if (value === undefined) continue;
    if (!leafSet.has(path)) {
      problems.push(`flag sets unknown config key "${path}"`);
      continue;
    }
    setPath(raw, path, value);
    sources.set(path, { kind: "flag", name: path });
  }

  const mode: Mode = {
    dev: input.mode?.dev ?? false,
    forceHttp: input.mode?.forceHttp ?? false,
    insecureRedirectUrls: [...(input.mode?.insecureRedirectUrls ?? [])],
  };

  const parsed = v.safeParse(ConfigSchema, raw);
  if (!parsed.success) {
    // Report every problem in one go: drop the bad values, then run the
    // cross-key rules on what is left, skipping lines about the dropped keys.
    const failed = parsed.issues.map((issue) => v.getDotPath(issue) ?? "");
    problems.push(...parsed.issues.map((issue) => describeIssue(issue, sources)));
    for (const path of failed) if (path) deletePath(raw, path);
    const repaired = v.safeParse(ConfigSchema, raw);
    if (repaired.success) {
      const about = (line: string, path: string) => line.startsWith(`${path}:`) || line.startsWith(`${path}[`);
      const rest = checkConfig(repaired.output, mode, sources, [], input.secretsOptional);
      problems.push(...rest.filter((line) => !failed.some((path) => path && about(line, path))));
    }
    throw new ConfigError(problems, warnings);
  }

  const config = parsed.output;
  problems.push(...checkConfig(config, mode, sources, warnings, input.secretsOptional));
  if (problems.length > 0) throw new ConfigError(problems, warnings);
  return deepFreeze({ config, mode, sources, warnings });
}

/** Rules that span keys or depend on the mode; every problem is reported, not just the first. */
function checkConfig(
  config: Config,
  mode: Mode,
  sources: ReadonlyMap<string, Source>,
  warnings: string[],
  secretsOptional = false,
): string[] {
  const problems: string[] = [];
  const where = (path: string) => describeSource(sourceOf(sources, path));

  config.secrets.system.forEach((secret, i) => {
    if (secret.length < 16) {
      problems.push(`secrets.system[${i}]: expected at least 16 characters, got ${secret.length} (${where("secrets.system")})`);
    }
  });
  config.secrets.cookie.forEach((secret, i) => {
    if (secret.length < 16) {
      problems.push(`secrets.cookie[${i}]: expected at least 16 characters, got ${secret.length} (${where("secrets.cookie")})`);
    }
  });
  if (config.secrets.system.length === 0 && !secretsOptional) {
    if (mode.dev) {
      if (config.dsn === "") {
        // The embedded database outlives the process: a fresh random secret at every
        // start would make its sealed keys unreadable after the first restart.
        const { secret, file, created } = devSecret(config.database.embedded.data_dir);
        (config.secrets as { system: string[] }).system = [secret];
        warnings.push(
          `secrets.system is not set: --dev ${created ? "generated" : "reuses"} a random one kept in ${file} ` +
            "for the embedded database. Never run like this in production.",
        );
      } else {
        (config.secrets as { system: string[] }).system = [randomSecret()];
        warnings.push(
          "secrets.system is not set: --dev generated a random one for this process only. " +
            "Tokens, sessions and encrypted keys will NOT survive a restart. Never run like this in production.",
        );
      }
    } else {
      problems.push(
        "secrets.system: required, a list of secrets of at least 16 characters (set SECRETS_SYSTEM or secrets.system in the config file, or pass --dev)",
      );
    }
  }

  if (!config.urls.self.issuer) {
    const scheme = mode.forceHttp || mode.dev ? "http" : "https";
    (config.urls.self as { issuer: string }).issuer = `${scheme}://localhost:${config.serve.public.port}/`;
  }
  const issuer = new URL(config.urls.self.issuer);
  if (issuer.protocol !== "https:" && !(mode.forceHttp || mode.dev)) {
    problems.push(
      `urls.self.issuer: expected an https URL, got "${config.urls.self.issuer}" (${where("urls.self.issuer")}); plain http is only allowed with --dangerous-force-http or --dev`,
    );
  }
  if (issuer.search || issuer.hash) {
    problems.push(`urls.self.issuer: must not have a query or fragment, got "${config.urls.self.issuer}" (${where("urls.self.issuer")})`);
  }
  // Hydra forces the trailing slash; every URL we emit is built from it.
  const withSlash = (u: string) => (u.endsWith("/") ? u : `${u}/`);
  (config.urls.self as { issuer: string }).issuer = withSlash(config.urls.self.issuer);
  (config.urls.self as { public: string }).public = withSlash(config.urls.self.public || config.urls.self.issuer);

  // --dev runs everything on this machine, relying parties included: their jwks_uri, request_uri
  // and logout receivers are on loopback, so the SSRF guard is off unless set either way.
  if (mode.dev && !sourceOf(sources, "clients.http.disallow_private_ip_ranges")) {
    (config.clients.http as { disallow_private_ip_ranges: boolean }).disallow_private_ip_ranges = false;
  }

  // The example app: --dev turns it on unless example_app.enabled is set either way; when on,
  // it answers for the login, consent and logout URLs the operator did not set.
  if (mode.dev && !sourceOf(sources, "example_app.enabled")) (config.example_app as { enabled: boolean }).enabled = true;
  if (config.example_app.enabled) {
    if (!mode.dev) {
      warnings.push(
        `example_app.enabled is on (${where("example_app.enabled")}): anyone can log in as the demo user foo@bar.com / foobar. Never run like this in production.`,
      );
    }
    const urls = config.urls as Record<"login" | "consent" | "logout", string>;
    for (const step of ["login", "consent", "logout"] as const) {
      if (!urls[step]) urls[step] = new URL(exampleAppPaths[step].slice(1), config.urls.self.public).toString();
    }
  }

  for (const path of ["serve.tls.allow_termination_from", "serve.public.tls.allow_termination_from", "serve.admin.tls.allow_termination_from"]) {
    const ranges = path.split(".").reduce<any>((node, key) => node[key], config) as string[];
    for (const cidr of ranges) {
      if (!parseCidr(cidr)) problems.push(`${path}: expected CIDR ranges such as 10.0.0.0/8 or fd00::/8, got "${cidr}" (${where(path)})`);
    }
  }

  for (const iface of ["public", "admin"] as const) {
    const host = config.serve[iface].host;
    if (host.startsWith("unix:") && !host.slice(5).startsWith("/")) {
      problems.push(`serve.${iface}.host: a Unix socket needs an absolute path (unix:/abs/path), got "${host}" (${where(`serve.${iface}.host`)})`);
    }
  }
  const subjectTypes = config.oidc.subject_identifiers.supported_types;
  if (subjectTypes.some((t) => t !== "public" && t !== "pairwise")) {
    problems.push(
      `oidc.subject_identifiers.supported_types: expected "public" and/or "pairwise", got ${JSON.stringify(subjectTypes)} (${where("oidc.subject_identifiers.supported_types")})`,
    );
  }
  if (subjectTypes.includes("pairwise") && !config.oidc.subject_identifiers.pairwise.salt) {
    problems.push(
      `oidc.subject_identifiers.pairwise.salt: required when pairwise subject identifiers are supported (supported_types ${where("oidc.subject_identifiers.supported_types")})`,
    );
  }
  return problems;
}

/** The --dev secret of an embedded data directory: read it, or create it (0600) once. */
function devSecret(dataDir: string): { secret: string; file: string; created: boolean } {
  const file = resolve(dataDir, "dev-secret");
  try {
    const secret = readFileSync(file, "utf8").trim();
    if (secret.length >= 16) return { secret, file, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const secret = randomSecret();
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return { secret, file, created: true };
}

function randomSecret(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

/** Freezes plain objects and arrays; the sources Map is typed ReadonlyMap instead. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !(value instanceof Map) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** The environment, for callers at the edge (the CLI); nothing else reads process.env. */
export function processEnv(): Record<string, string | undefined> {
  return process.env;
}

export type ServeWhich = "all" | "public" | "admin";

/**
 * Checks that only matter to `serve`: TLS for each TCP listener it opens, and
 * `memory` only where one process holds both listeners (Hydra's isDSNAllowed).
 * Certificates are read and checked here too, so a bad one stops start-up
 * before any listener opens.
 */
export function checkServe(loaded: LoadedConfig, which: ServeWhich): string[] {
  const { config, mode, sources } = loaded;
  const problems = new Set<string>();
  if (which !== "all" && config.dsn === "memory") {
    problems.add(
      `dsn: "memory" cannot be used with "gatehouse serve ${which}": an in-memory database cannot be shared between processes; use "serve all" or a PostgreSQL DSN`,
    );
  }
  // --dangerous-force-http turns TLS off on both listeners; nothing is read.
  if (mode.forceHttp) return [...problems];
  for (const iface of which === "all" ? (["public", "admin"] as const) : [which]) {
    const listener = config.serve[iface];
    if (iface === "admin" && !listener.tls.enabled) continue;
    let material: TlsMaterial | undefined;
    try {
      material = tlsFilesOf(config, iface, sources);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      // serve.tls is shared by both listeners: say each problem once.
      for (const problem of err.problems) problems.add(problem);
      continue;
    }
    if (material || mode.dev) continue;
    if (listener.host.startsWith("unix:")) continue;
    if (terminationRangesOf(config, iface).length > 0) continue;
    problems.add(
      `serve.${iface}: no TLS certificate is configured for the ${iface} listener. Choose one: ` +
        `(1) give a certificate and key (serve.tls.cert.path and serve.tls.key.path, or their .base64 forms; SERVE_TLS_CERT_PATH/SERVE_TLS_KEY_PATH), ` +
        `(2) terminate TLS at a proxy and set serve.tls.allow_termination_from to its address range, or ` +
        `(3) pass --dangerous-force-http (never in production)`,
    );
  }
  return [...problems];
}

export interface TlsMaterial {
  cert: string;
  key: string;
}

interface TlsPart {
  /** The key of the object it came from, e.g. "serve.public.tls.cert". */
  key: string;
  field: "path" | "base64";
  value: string;
}

/** serve.<iface>.tls.<what> if set, else serve.tls.<what>; path before base64. */
function tlsPartOf(config: Config, iface: "public" | "admin", what: "cert" | "key"): TlsPart | undefined {
  for (const [key, src] of [
    [`serve.${iface}.tls.${what}`, config.serve[iface].tls[what]],
    [`serve.tls.${what}`, config.serve.tls[what]],
  ] as const) {
    if (src.path) return { key, field: "path", value: src.path };
    if (src.base64) return { key, field: "base64", value: src.base64 };
  }
  return undefined;
}

/**
 * The certificate and key for a listener: its own serve.<iface>.tls first, then
 * serve.tls. Undefined when neither is configured; a ConfigError when only one
 * is, when a file cannot be read, when the text is not PEM, or when the key
 * does not belong to the certificate.
 */
export function tlsFilesOf(
  config: Config,
  iface: "public" | "admin",
  sources: ReadonlyMap<string, Source> = new Map(),
): TlsMaterial | undefined {
  const cert = tlsPartOf(config, iface, "cert");
  const key = tlsPartOf(config, iface, "key");
  if (!cert && !key) return undefined;
  const where = (part: TlsPart) => `${part.key}.${part.field}, ${describeSource(sourceOf(sources, `${part.key}.${part.field}`))}`;
  if (!cert || !key) {
    const have = (cert ?? key)!;
    const missing = cert ? "key" : "cert";
    const missingKey = have.key.replace(/(cert|key)$/, missing);
    throw new ConfigError([
      `${missingKey}: required because ${have.key}.${have.field} is set (${describeSource(sourceOf(sources, `${have.key}.${have.field}`))}); ` +
        `give both the certificate and the private key (${missingKey}.path or ${missingKey}.base64)`,
    ]);
  }

  const problems: string[] = [];
  const read = (part: TlsPart): string | undefined => {
    if (part.field === "path") {
      try {
        return readFileSync(part.value, "utf8");
      } catch (err) {
        problems.push(`${part.key}.path: cannot read "${part.value}" (${(err as NodeJS.ErrnoException).code ?? err}) (${describeSource(sourceOf(sources, `${part.key}.path`))})`);
        return undefined;
      }
    }
    // Buffer.from(…, "base64") skips what is not base64; garbage must not reach the listener.
    if (!/^[A-Za-z0-9+/\s]+={0,2}\s*$/.test(part.value)) {
      problems.push(`${part.key}.base64: expected the base64 encoding of a PEM file (${describeSource(sourceOf(sources, `${part.key}.base64`))})`);
      return undefined;
    }
    return Buffer.from(part.value, "base64").toString("utf8");
  };
  const certText = read(cert);
  const keyText = read(key);

  let x509: X509Certificate | undefined;
  if (certText !== undefined) {
    try {
      x509 = new X509Certificate(certText);
    } catch {
      problems.push(`${cert.key}: expected a PEM certificate ("-----BEGIN CERTIFICATE-----") (${where(cert)})`);
    }
  }
  let privateKey: KeyObject | undefined;
  if (keyText !== undefined) {
    try {
      privateKey = createPrivateKey(keyText);
    } catch {
      problems.push(`${key.key}: expected an unencrypted PEM private key ("-----BEGIN PRIVATE KEY-----") (${where(key)})`);
    }
  }
  if (x509 && privateKey && !x509.checkPrivateKey(privateKey)) {
    problems.push(`${key.key}: the private key does not belong to the certificate (${where(key)}; certificate from ${where(cert)})`);
  }
  if (problems.length > 0 || certText === undefined || keyText === undefined) throw new ConfigError(problems);
  return { cert: certText, key: keyText };
}

export function terminationRangesOf(config: Config, iface: "public" | "admin"): readonly string[] {
  const own = config.serve[iface].tls.allow_termination_from;
  return own.length > 0 ? own : config.serve.tls.allow_termination_from;
}
