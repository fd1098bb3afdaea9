/**
 * @module Builds the configuration: defaults ← YAML/JSON files ← environment ← flags,
 * parsed once by the schema and frozen. The only module that reads process.env.
 */
import { readFileSync } from "node:fs";
import * as v from "valibot";
import YAML from "yaml";
import { ConfigSchema, ignoredKeys, type Config } from "./schema.ts";
import { show } from "./coerce.ts";
import { parseCidr } from "../lib/cidr.ts";

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
}

export interface LoadedConfig {
  config: Config;
  mode: Mode;
  /** Where each leaf that did not come from a default was set. */
  sources: ReadonlyMap<string, Source>;
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Hydra's pre-1.9 short names, which our operators' seed configs still use. */
const envAliases: Record<string, string> = {
  PUBLIC_HOST: "serve.public.host",
  PUBLIC_PORT: "serve.public.port",
  ADMIN_HOST: "serve.admin.host",
  ADMIN_PORT: "serve.admin.port",
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
    if (prefix) unknown.push(prefix);
    return;
  }
  for (const [key, child] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (leafSet.has(path) || leaves.some((l) => l.startsWith(`${path}.`))) {
      collectFileLeaves(child, path, file, sources, unknown);
    } else if (ignoredSet.has(path)) {
      sources.set(path, { kind: "file", file });
    } else {
      unknown.push(path);
    }
  }
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>) {
  for (const [key, value] of Object.entries(from)) {
    const existing = into[key];
    if (isPlainObject(existing) && isPlainObject(value)) deepMerge(existing, value);
    else into[key] = value;
  }
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

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([`config file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`]);
  }
  // The failsafe schema keeps every scalar as the text the operator wrote, so
  // `mode: 0770` stays "0770" (YAML 1.2 would make it 770, `0o770` 504) and the
  // schema's readers convert once, exactly as they convert environment strings.
  let doc: unknown;
  try {
    doc = YAML.parse(text, { schema: "failsafe" });
  } catch (err) {
    throw new ConfigError([`config file ${file}: not valid YAML or JSON: ${(err as Error).message.split("\n")[0]}`]);
  }
  if (doc === null || doc === undefined || doc === "") return {};
  if (!isPlainObject(doc)) throw new ConfigError([`config file ${file}: expected a mapping of keys at the top level`]);
  return doc;
}

export function loadConfig(input: LoadInput = {}): LoadedConfig {
  const env = input.env ?? {};
  const sources = new Map<string, Source>();
  const warnings: string[] = [];
  const raw: Record<string, unknown> = {};

  for (const file of input.files ?? []) {
    const doc = readConfigFile(file);
    const unknown: string[] = [];
    collectFileLeaves(doc, "", file, sources, unknown);
    for (const key of unknown) warnings.push(`config file ${file}: unknown key "${key}" is ignored`);
    deepMerge(raw, doc);
  }
  for (const key of ignoredKeys) {
    if (raw[key] !== undefined) warnings.push(`config key "${key}" is not supported by Gatehouse and is ignored`);
  }

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
    if (!leafSet.has(path)) throw new ConfigError([`flag sets unknown config key "${path}"`]);
    setPath(raw, path, value);
    sources.set(path, { kind: "flag", name: path });
  }

  const parsed = v.safeParse(ConfigSchema, raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.issues.map((issue) => {
        const path = v.getDotPath(issue) ?? "(top level)";
        const message = issue.message.startsWith("expected")
          ? issue.message
          : `expected ${issue.expected ?? "a valid value"}, got ${show(issue.input)}`;
        return `${path}: ${message} (${describeSource(sourceOf(sources, path))})`;
      }),
    );
  }

  const mode: Mode = {
    dev: input.mode?.dev ?? false,
    forceHttp: input.mode?.forceHttp ?? false,
    insecureRedirectUrls: input.mode?.insecureRedirectUrls ?? [],
  };
  const config = parsed.output;
  const problems = checkConfig(config, mode, sources, warnings);
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: deepFreeze(config), mode, sources, warnings };
}

/** Rules that span keys or depend on the mode; every problem is reported, not just the first. */
function checkConfig(config: Config, mode: Mode, sources: ReadonlyMap<string, Source>, warnings: string[]): string[] {
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
  if (config.secrets.system.length === 0) {
    if (mode.dev) {
      const generated = randomSecret();
      (config.secrets as { system: string[] }).system = [generated];
      warnings.push(
        "secrets.system is not set: --dev generated a random one for this process only. " +
          "Tokens, sessions and encrypted keys will NOT survive a restart. Never run like this in production.",
      );
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
  if (config.oidc.subject_identifiers.supported_types.some((t) => t !== "public" && t !== "pairwise")) {
    problems.push(`oidc.subject_identifiers.supported_types: expected "public" and/or "pairwise", got ${JSON.stringify(config.oidc.subject_identifiers.supported_types)}`);
  }
  if (config.oidc.subject_identifiers.supported_types.includes("pairwise") && !config.oidc.subject_identifiers.pairwise.salt) {
    problems.push("oidc.subject_identifiers.pairwise.salt: required when pairwise subject identifiers are supported");
  }
  return problems;
}

function randomSecret(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
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
 */
export function checkServe(loaded: LoadedConfig, which: ServeWhich): string[] {
  const { config, mode } = loaded;
  const problems: string[] = [];
  if (which !== "all" && config.dsn === "memory") {
    problems.push(
      `dsn: "memory" cannot be used with "gatehouse serve ${which}": an in-memory database cannot be shared between processes; use "serve all" or a PostgreSQL DSN`,
    );
  }
  if (mode.dev || mode.forceHttp) return problems;
  for (const iface of which === "all" ? (["public", "admin"] as const) : [which]) {
    const listener = config.serve[iface];
    if (listener.host.startsWith("unix:")) continue;
    if (iface === "admin" && !listener.tls.enabled) continue;
    if (tlsFilesOf(config, iface)) continue;
    if (terminationRangesOf(config, iface).length > 0) continue;
    problems.push(
      `serve.${iface}: no TLS certificate is configured for the ${iface} listener. Choose one: ` +
        `(1) give a certificate and key (serve.tls.cert.path and serve.tls.key.path, or their .base64 forms; SERVE_TLS_CERT_PATH/SERVE_TLS_KEY_PATH), ` +
        `(2) terminate TLS at a proxy and set serve.tls.allow_termination_from to its address range, or ` +
        `(3) pass --dangerous-force-http (never in production)`,
    );
  }
  return problems;
}

export interface TlsMaterial {
  cert: string;
  key: string;
}

/** The certificate for a listener: its own serve.<iface>.tls first, then serve.tls. */
export function tlsFilesOf(config: Config, iface: "public" | "admin"): TlsMaterial | undefined {
  const own = config.serve[iface].tls;
  const shared = config.serve.tls;
  const pick = (o: { path: string; base64: string }, s: { path: string; base64: string }) =>
    o.path || o.base64 ? o : s.path || s.base64 ? s : undefined;
  const cert = pick(own.cert, shared.cert);
  const key = pick(own.key, shared.key);
  if (!cert || !key) return undefined;
  const read = (src: { path: string; base64: string }, what: string) => {
    if (src.path) {
      try {
        return readFileSync(src.path, "utf8");
      } catch (err) {
        throw new ConfigError([`serve.tls.${what}.path: cannot read "${src.path}" (${(err as NodeJS.ErrnoException).code ?? err})`]);
      }
    }
    return Buffer.from(src.base64, "base64").toString("utf8");
  };
  return { cert: read(cert, "cert"), key: read(key, "key") };
}

export function terminationRangesOf(config: Config, iface: "public" | "admin"): readonly string[] {
  const own = config.serve[iface].tls.allow_termination_from;
  return own.length > 0 ? own : config.serve.tls.allow_termination_from;
}
