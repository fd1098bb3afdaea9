/**
 * @module `gatehouse janitor [<database-url>]`: Hydra v1's cleanup command (cmd/janitor.go,
 * cmd/cli/handler_janitor.go) run against the database directly, e.g. from a systemd timer
 * (contrib/systemd/gatehouse-janitor.timer). Prints the rows deleted per table.
 */
import { defineCommand } from "citty";
import { parseDuration } from "../config/coerce.ts";
import { defaultBatchSize, defaultLimit, runJanitor, type Group, type TableReport } from "../janitor/janitor.ts";
import { configArgs, fail, loadOrExit, openDatabaseOrExit } from "./shared.ts";

function durationFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const ms = parseDuration(value);
  if (ms === undefined || ms < 0) fail(`--${name}: expected a duration such as 30s, 10m, 1h or 1h30m, got "${value}"`);
  return ms;
}

function countFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  if (!/^\d+$/.test(value) || Number(value) <= 0) fail(`--${name}: expected a whole number greater than 0, got "${value}"`);
  return Number(value);
}

function line(r: TableReport): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const how = r.statements > 0 ? ` in ${plural(r.statements, "statement")} (${(r.elapsedMs / 1000).toFixed(2)} s)` : "";
  const what = r.action === "cleared" ? `cleared ${plural(r.deleted, "row")} in` : `deleted ${plural(r.deleted, "row")} from`;
  return `Successfully completed Janitor run on ${r.name}: ${what} ${r.table}${how}\n`;
}

export const janitor = defineCommand({
  meta: {
    name: "janitor",
    description: "Delete expired tokens, codes, jti records, trust relationships, stale login/consent/logout requests and login sessions, in batches",
  },
  args: {
    ...configArgs,
    dsn: { type: "positional", required: false, description: "Database URL (postgres://…); or use -e or -c" },
    "read-from-env": { type: "boolean", alias: "e", description: "Read the DSN from the environment (DSN) or the config file (dsn)" },
    limit: { type: "string", description: `Most rows deleted per table in this run (default ${defaultLimit})` },
    "batch-size": { type: "string", description: `Rows per DELETE statement (default ${defaultBatchSize})` },
    "keep-if-younger": { type: "string", description: "Keep rows issued less than this long ago, e.g. 1h (default 0: only expiry counts)" },
    "access-lifespan": { type: "string", description: "Also delete access tokens issued longer ago than this, whatever their expiry" },
    "refresh-lifespan": { type: "string", description: "Also delete refresh tokens issued longer ago than this, whatever their expiry" },
    "consent-request-lifespan": { type: "string", description: "Age after which an unhandled login/consent request is deleted (default ttl.login_consent_request)" },
    tokens: { type: "boolean", description: "Clean access and refresh tokens, authorization codes and jti records" },
    requests: { type: "boolean", description: "Clean login, consent and logout requests" },
    grants: { type: "boolean", description: "Clean expired jwt-bearer trust relationships and their keys" },
  },
  async run({ args, rawArgs }) {
    const configFiles = rawArgs.some((a) => a === "-c" || a === "--config" || a.startsWith("--config="));
    if (!args.dsn && !args["read-from-env"] && !configFiles) {
      fail("a DSN is required as a positional argument when neither -e (DSN from the environment) nor -c (dsn from a config file) is given");
    }
    const groups = new Set<Group>((["tokens", "requests", "grants"] as const).filter((g) => args[g]));
    if (groups.size === 0) fail("janitor requires at least one of --tokens, --requests or --grants");
    const limit = countFlag("limit", args.limit, defaultLimit);
    const batchSize = countFlag("batch-size", args["batch-size"], defaultBatchSize);
    if (batchSize > limit) fail("--batch-size must not be greater than --limit");
    const keepIfYounger = durationFlag("keep-if-younger", args["keep-if-younger"]) ?? 0;
    const accessLifespanMs = durationFlag("access-lifespan", args["access-lifespan"]);
    const refreshLifespanMs = durationFlag("refresh-lifespan", args["refresh-lifespan"]);
    const consentLifespanMs = durationFlag("consent-request-lifespan", args["consent-request-lifespan"]);

    const { loaded, log } = loadOrExit(rawArgs, { dev: false }, args.dsn ? { dsn: args.dsn } : {}, { secretsOptional: true });
    const { config } = loaded;
    if (config.dsn === "memory") fail('dsn "memory" lives inside the serving process; clean it with "gatehouse token flush" (POST /oauth2/flush)');
    const database = await openDatabaseOrExit(config, log);
    try {
      const now = new Date();
      await runJanitor(
        database.db,
        {
          cutoffs: {
            now,
            notAfter: new Date(now.getTime() - keepIfYounger),
            accessLifespanMs,
            refreshLifespanMs,
            refreshGraceMs: config.oauth2.grant.refresh_token.rotation_grace_period,
          },
          limit,
          batchSize,
          groups,
          requestLifespanMs: consentLifespanMs ?? config.ttl.login_consent_request,
        },
        (r) => process.stdout.write(line(r)),
      );
    } catch (err) {
      fail(`janitor run failed: ${(err as Error).message}`);
    } finally {
      await database.close();
    }
  },
});
