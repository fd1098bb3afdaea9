/**
 * @module Queries built once per process. drizzle turns a query builder into SQL text on every
 * call (about a third of the CPU of a token request, BENCHMARKS.md); a prepared query
 * (`.prepare(name)` with `sql.placeholder()`) keeps the text and only fills in the values.
 *
 * A drizzle prepared query is tied to the driver client of the `Db` it was built on (the pool,
 * or one transaction's connection). Stores are called with either, so the query is built once
 * per name and driver, and each call runs it on the client of the `Db` it was given: the pool's,
 * a transaction's (postgres.js `begin`, PGlite `transaction`), or another database's (tests open
 * several). Both drivers' prepared queries send their text through `this.client` only.
 */
import type { SQL } from "drizzle-orm";
import type { Db } from "./db.ts";

/** What drizzle's prepared queries (postgres.js and PGlite) hold: the client they run on. */
interface BoundQuery {
  client: unknown;
}

/** drizzle's PgDatabase and PgTransaction keep their session (and its driver client) here. */
interface WithSession {
  session?: { client?: unknown; constructor: object };
}

const built = new WeakMap<object, Map<string, BoundQuery>>();

/**
 * The query `name` (built by `build` on first use, once per driver) bound to `db`'s client.
 * `name` must identify the query text: one name, one `build`.
 *
 * @example
 *   const byId = (db: Db) => prepared(db, "client_by_id", (d) =>
 *     d.select().from(oauth2Clients).where(eq(oauth2Clients.id, sql.placeholder("id"))).limit(1).prepare("client_by_id"));
 *   const [row] = await byId(db).execute({ id });
 */
export function prepared<Q extends object>(db: Db, name: string, build: (db: Db) => Q): Q {
  const session = (db as unknown as WithSession).session;
  // Not a drizzle database we know the inside of: build it every time (correct, only slower).
  if (!session || session.client === undefined) return build(db);
  let byName = built.get(session.constructor);
  if (!byName) built.set(session.constructor, (byName = new Map()));
  let query = byName.get(name);
  if (!query) {
    query = build(db) as unknown as BoundQuery;
    if (!("client" in query)) return query as unknown as Q;
    byName.set(name, query);
  }
  if (query.client === session.client) return query as unknown as Q;
  const bound = Object.create(query) as BoundQuery;
  bound.client = session.client;
  return bound as unknown as Q;
}

/** drizzle's database internals that turn an `sql` template into a prepared query. */
interface WithDialect {
  dialect: { sqlToQuery(query: SQL): unknown };
  session: { prepareQuery(query: unknown, fields: undefined, name: string, isResponseInArrayMode: boolean): { execute(values?: Record<string, unknown>): Promise<unknown> } };
}

/**
 * A hand-written statement (`sql` with `sql.placeholder()`), built once like `prepared`, for
 * what drizzle's builders cannot say (a statement of several data-modifying CTEs). Rows come
 * back as plain objects by column name, values as the driver gives them (no mapping).
 */
export function preparedSql(db: Db, name: string, build: () => SQL): { execute(values?: Record<string, unknown>): Promise<Record<string, unknown>[]> } {
  const query = prepared(db, name, (d) => {
    const inner = d as unknown as WithDialect;
    return inner.session.prepareQuery(inner.dialect.sqlToQuery(build()), undefined, name, false);
  });
  return {
    async execute(values) {
      // postgres.js gives the rows as an array, PGlite a result with `rows`.
      const result = (await query.execute(values)) as Record<string, unknown>[] | { rows: Record<string, unknown>[] };
      return Array.isArray(result) ? result : result.rows;
    },
  };
}
