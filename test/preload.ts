/** @module bun test preload: UTC, and a guard that tests only ever reach loopback databases. */
process.env.TZ = "UTC";

const adminDsn = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const host = new URL(adminDsn).hostname;
if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host)) {
  throw new Error(`TEST_POSTGRES_URL must point at a loopback PostgreSQL, got host ${host}`);
}
