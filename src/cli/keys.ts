/**
 * @module `gatehouse keys create|get|delete|import` (remote, over the admin API, as Hydra's)
 * and `gatehouse keys rotate-secret` (local: re-seals every key under secrets.system[0]).
 */
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { OAuthError } from "../errors.ts";
import { rotateKeySecret } from "../keys/at-rest.ts";
import { generationAlgs, pemToJwks, validateJwk } from "../keys/keystore.ts";
import type { Jwk, KeyUse } from "../keys/types.ts";
import { pendingMigrations } from "../storage/migrate.ts";
import { adminRequest, expectStatus, printOutput, remoteArgs } from "./admin-client.ts";
import { configArgs, fail, loadOrExit, openDatabaseOrExit } from "./shared.ts";

const tableColumns = ["kid", "kty", "alg", "use"];
const setPath = (set: string) => `/keys/${encodeURIComponent(set)}`;

function printKeys(body: unknown, format: string | undefined) {
  if (format === "table") printOutput((body as { keys?: unknown[] }).keys ?? [], "table", tableColumns);
  else printOutput(body, format, tableColumns);
}

function useOf(value: string | undefined): KeyUse {
  if (value !== "sig" && value !== "enc") fail(`--use: expected sig or enc, got "${value}"`);
  return value;
}

const createCommand = defineCommand({
  meta: { name: "create", description: "Generate a key (pair) and add it to a JSON Web Key set: keys create <set> [<kid>]" },
  args: {
    set: { type: "positional", required: true, description: "Key set id, e.g. hydra.openid.id-token" },
    kid: { type: "positional", required: false, description: "Key id (asymmetric keys get private:<kid> and public:<kid>); default: a UUID" },
    alg: { type: "string", alias: "a", default: "RS256", description: `Algorithm: ${generationAlgs.join(", ")}` },
    use: { type: "string", alias: "u", default: "sig", description: "Key use: sig or enc" },
    bits: { type: "string", alias: "b", description: "RSA modulus size for RS*/PS*: 2048 (default), 3072 or 4096" },
    ...remoteArgs,
  },
  async run({ args }) {
    const bits = args.bits === undefined ? undefined : Number(args.bits);
    if (bits !== undefined && !Number.isInteger(bits)) fail(`--bits: expected an integer, got "${args.bits}"`);
    const res = await adminRequest(args, "POST", setPath(args.set), { alg: args.alg, kid: args.kid ?? "", use: useOf(args.use), ...(bits ? { bits } : {}) });
    expectStatus(res, 201);
    printKeys(res.body, args.format);
  },
});

const getCommand = defineCommand({
  meta: { name: "get", description: "Print a JSON Web Key set, private keys included: keys get <set>" },
  args: {
    set: { type: "positional", required: true, description: "Key set id" },
    ...remoteArgs,
  },
  async run({ args }) {
    const res = await adminRequest(args, "GET", setPath(args.set));
    expectStatus(res, 200);
    printKeys(res.body, args.format);
  },
});

const deleteCommand = defineCommand({
  meta: { name: "delete", description: "Delete a JSON Web Key set: keys delete <set>" },
  args: {
    set: { type: "positional", required: true, description: "Key set id" },
    ...remoteArgs,
  },
  async run({ args }) {
    const res = await adminRequest(args, "DELETE", setPath(args.set));
    expectStatus(res, 204);
    process.stdout.write(`${args.set}\n`);
  },
});

/** A JWK, a JWK Set, or a PEM key/certificate; returns the JWKs to put. */
async function readKeyFile(file: string, id: string, use: KeyUse, alg: string | undefined): Promise<Jwk[]> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    fail(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  try {
    if (text.trimStart().startsWith("{")) {
      const doc = JSON.parse(text) as { keys?: unknown };
      const raws = Array.isArray(doc.keys) ? doc.keys : [doc];
      return await Promise.all(
        raws.map((raw) => {
          const r = raw as Record<string, unknown>;
          return validateJwk({ ...r, use: r.use ?? use, ...(alg && !r.alg ? { alg } : {}) }, raws.length === 1 ? id : undefined);
        }),
      );
    }
    if (!text.includes("-----BEGIN ")) fail(`${file}: neither a JSON Web Key (set) nor a PEM key or certificate`);
    return (await pemToJwks(text, id, use, alg)).keys;
  } catch (err) {
    if (err instanceof OAuthError) fail(`${file}: ${err.description}`);
    fail(`${file}: ${(err as Error).message}`);
  }
}

const importCommand = defineCommand({
  meta: {
    name: "import",
    description:
      "Import keys into a set: keys import <set> <file>... Each file is a PEM key or certificate (a private key adds private:<id> and public:<id>) or a JWK / JWK Set in JSON; keys with the same kid are replaced",
  },
  args: {
    set: { type: "positional", required: true, description: "Key set id" },
    use: { type: "string", alias: "u", default: "sig", description: "Key use of keys that do not say: sig or enc" },
    "default-key-id": { type: "string", description: "Key id for keys without one; default: a UUID per file" },
    alg: { type: "string", alias: "a", description: "Algorithm for keys that do not say (default: RS256, ES256/384/512 by curve, EdDSA)" },
    ...remoteArgs,
  },
  async run({ args }) {
    const files = args._.slice(1);
    if (files.length === 0) fail("give at least one file: keys import <set> <file>...");
    const use = useOf(args.use);
    const keys: Jwk[] = [];
    for (const file of files) keys.push(...(await readKeyFile(file, args["default-key-id"] || crypto.randomUUID(), use, args.alg)));
    const kids = keys.map((k) => k.kid);
    const duplicate = kids.find((kid, i) => kids.indexOf(kid) !== i);
    if (duplicate) fail(`two of the given keys have kid "${duplicate}"; give each file its own key id (files without a kid get --default-key-id)`);
    const imported: unknown[] = [];
    for (const key of keys) {
      const res = await adminRequest(args, "PUT", `${setPath(args.set)}/${encodeURIComponent(key.kid)}`, key);
      expectStatus(res, 200);
      imported.push(res.body);
    }
    printKeys({ keys: imported }, args.format);
  },
});

const rotateSecretCommand = defineCommand({
  meta: {
    name: "rotate-secret",
    description:
      "Re-encrypt every JSON Web Key under secrets.system[0] (any listed secret may open it), in one transaction. Runs against the database directly. Exits 1 if some keys open with none of the secrets (they are left untouched)",
  },
  args: {
    ...configArgs,
    dsn: { type: "positional", required: false, description: "Database URL (postgres://…); default: DSN / the config key dsn" },
  },
  async run({ args, rawArgs }) {
    const { loaded, log } = loadOrExit(rawArgs, { dev: false }, args.dsn ? { dsn: args.dsn } : {});
    const { config } = loaded;
    if (config.dsn === "memory") fail('dsn "memory" holds no keys between runs; there is nothing to re-encrypt');
    const database = await openDatabaseOrExit(config, log);
    try {
      const pending = await pendingMigrations(database.db);
      if (pending.length > 0) fail(`the database has pending migrations (${pending.join(", ")}); run "gatehouse migrate sql -e --yes" first`);
      const report = await rotateKeySecret(database.db, config.secrets.system);
      process.stdout.write(
        `Re-encrypted ${report.resealed} key(s) under secrets.system[0]; ${report.current} already were; ` +
          `${report.unreadable.length} cannot be opened with any of secrets.system.\n`,
      );
      if (report.unreadable.length > 0) {
        for (const k of report.unreadable) process.stderr.write(`cannot decrypt: set ${k.setId} kid ${k.kid} (left unchanged)\n`);
        process.exitCode = 1;
      }
    } finally {
      await database.close();
    }
  },
});

export const keys = defineCommand({
  meta: { name: "keys", description: "JSON Web Key sets" },
  subCommands: {
    create: createCommand,
    get: getCommand,
    delete: deleteCommand,
    import: importCommand,
    "rotate-secret": rotateSecretCommand,
  },
});
