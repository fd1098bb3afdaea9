/** @module `gatehouse migrate sql|status`: apply or list the schema migrations. */
import { createInterface } from "node:readline/promises";
import { defineCommand } from "citty";
import { applyMigrations, migrationStatus } from "../storage/migrate.ts";
import { configArgs, fail, loadOrExit, openDatabaseOrExit } from "./shared.ts";

const dbArgs = {
  ...configArgs,
  dsn: { type: "positional", required: false, description: "Database URL (postgres://…); or use -e" },
  "read-from-env": { type: "boolean", alias: "e", description: "Read the DSN from the environment (DSN) or the config file (dsn)" },
} as const;

async function open(args: { dsn?: string; "read-from-env"?: boolean }, rawArgs: readonly string[]) {
  if (!args.dsn && !args["read-from-env"]) {
    fail('give the database URL as an argument, or pass -e to read it from DSN / the config key "dsn"');
  }
  const { loaded, log } = loadOrExit(rawArgs, { dev: false }, args.dsn ? { dsn: args.dsn } : {}, { secretsOptional: true });
  if (loaded.config.dsn === "memory") fail('dsn "memory" is migrated at start by "serve all"; there is nothing to migrate');
  return { database: await openDatabaseOrExit(loaded.config, log), log };
}

function printPlan(status: { tag: string; applied: boolean }[]) {
  const width = Math.max(...status.map((s) => s.tag.length), 7);
  process.stdout.write(`${"Version".padEnd(width)}  Status\n`);
  for (const s of status) process.stdout.write(`${s.tag.padEnd(width)}  ${s.applied ? "Applied" : "Pending"}\n`);
}

const sqlCommand = defineCommand({
  meta: { name: "sql", description: "Apply pending SQL migrations (in one transaction, under an advisory lock)" },
  args: { ...dbArgs, yes: { type: "boolean", alias: "y", description: "Apply without asking" } },
  async run({ args, rawArgs }) {
    const { database } = await open(args, rawArgs);
    try {
      const status = await migrationStatus(database.db);
      printPlan(status);
      if (status.every((s) => s.applied)) {
        process.stdout.write("All migrations are already applied.\n");
        return;
      }
      if (!args.yes) {
        if (!process.stdin.isTTY) fail("not applying: stdin is not a terminal to confirm on; pass --yes");
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question("Do you wish to execute this migration plan? [y/n]: ");
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          process.stdout.write("Migration aborted.\n");
          return;
        }
      }
      const applied = await applyMigrations(database.db);
      process.stdout.write(applied.length ? `Applied: ${applied.join(", ")}\n` : "Another process applied them meanwhile.\n");
      process.stdout.write("Successfully applied migrations!\n");
    } finally {
      await database.close();
    }
  },
});

const statusCommand = defineCommand({
  meta: { name: "status", description: "List applied and pending migrations" },
  args: dbArgs,
  async run({ args, rawArgs }) {
    const { database } = await open(args, rawArgs);
    try {
      printPlan(await migrationStatus(database.db));
    } finally {
      await database.close();
    }
  },
});

export const migrate = defineCommand({
  meta: { name: "migrate", description: "Database migrations" },
  subCommands: { sql: sqlCommand, status: statusCommand },
});
