/** @module Every table, for drizzle-kit and for the typed Db. */
export * from "./clients.ts";
export * from "./keys.ts";
export * from "./tokens.ts";
export * from "./flows.ts";
