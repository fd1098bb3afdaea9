/** @module What the CLI commands share: config loading from flags and env, and fatal exits. */
import { ConfigError, loadConfig, processEnv, type LoadedConfig, type Mode } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { DatabaseError, openDatabase, type Database } from "../storage/db.ts";

/** citty keeps only the last of a repeated flag; `-c a -c b` must load both files, in order. */
export function repeatedFlag(rawArgs: readonly string[], names: readonly string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    for (const name of names) {
      if (arg === name && i + 1 < rawArgs.length) values.push(rawArgs[++i]!);
      else if (arg.startsWith(`${name}=`)) values.push(arg.slice(name.length + 1));
    }
  }
  return values;
}

/** `--set key=value` pairs, the flag source of the config. */
export function setFlags(rawArgs: readonly string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const pair of repeatedFlag(rawArgs, ["--set"])) {
    const eq = pair.indexOf("=");
    if (eq <= 0) fail(`--set expects key=value, got "${pair}"`);
    flags[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return flags;
}

export const configArgs = {
  config: { type: "string", alias: "c", description: "Config file (YAML or JSON); repeat to merge several, later ones win" },
  set: { type: "string", description: "Set a config key, e.g. --set serve.public.port=8080 (repeatable)" },
} as const;

export function fail(message: string): never {
  process.stderr.write(`gatehouse: ${message}\n`);
  process.exit(1);
}

/** Loads config or exits non-zero with one line per problem, before anything opens. */
export function loadOrExit(
  rawArgs: readonly string[],
  mode: Partial<Mode> = {},
  flags: Record<string, unknown> = {},
  options: { secretsOptional?: boolean } = {},
): { loaded: LoadedConfig; log: Logger } {
  try {
    const loaded = loadConfig({
      files: repeatedFlag(rawArgs, ["-c", "--config"]),
      env: processEnv(),
      flags: { ...setFlags(rawArgs), ...flags },
      mode,
      secretsOptional: options.secretsOptional,
    });
    const log = createLogger(loaded.config.log);
    for (const warning of loaded.warnings) log.warn(warning);
    return { loaded, log };
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
}

export function parseList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Opens the configured database for a local command, or exits with the reason (unreachable, unsupported DSN, locked). */
export async function openDatabaseOrExit(config: Config, log: Logger): Promise<Database> {
  try {
    return await openDatabase(config, { log: log.withTag("database"), connectTimeoutMs: config.database.connect_timeout });
  } catch (err) {
    if (err instanceof DatabaseError) fail(err.message);
    throw err;
  }
}
