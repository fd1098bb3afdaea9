/** @module The one object of dependencies, built at start and passed explicitly (no DI framework). */
import type { LoadedConfig, Mode } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import type { Metrics } from "./health/metrics.ts";
import { createMetrics } from "./health/metrics.ts";
import type { Logger } from "./lib/log.ts";
import type { Database, Db } from "./storage/db.ts";

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A named readiness check: resolves to a problem description, or undefined when healthy. */
export type ReadinessCheck = () => Promise<string | undefined>;

export interface Deps {
  config: Config;
  mode: Mode;
  database: Database;
  db: Db;
  log: Logger;
  clock: Clock;
  metrics: Metrics;
  /** Extra readiness checks by name (the database is always checked). */
  readiness: Map<string, ReadinessCheck>;
}

export function createDeps(loaded: LoadedConfig, database: Database, log: Logger, clock: Clock = systemClock): Deps {
  return {
    config: loaded.config,
    mode: loaded.mode,
    database,
    db: database.db,
    log,
    clock,
    metrics: createMetrics(),
    readiness: new Map(),
  };
}
