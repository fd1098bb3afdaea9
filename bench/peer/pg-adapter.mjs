/**
 * @module The benchmark peer's PostgreSQL adapter for oidc-provider: one table per model
 * (oidc_<model>), the model's payload as JSONB, with the columns the adapter API looks rows
 * up by (grant_id, uid, user_code) beside it. Same driver and pool size as Gatehouse
 * (postgres.js, 10 connections), so the comparison is about the servers, not the drivers.
 */
import postgres from 'postgres';

/** Every model name oidc-provider 9 may hand to an adapter. */
const models = [
  'Session', 'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'ClientCredentials',
  'Client', 'InitialAccessToken', 'RegistrationAccessToken', 'Interaction', 'ReplayDetection',
  'PushedAuthorizationRequest', 'Grant', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
];

const tableOf = (model) => `oidc_${model.toLowerCase()}`;
const epochNow = () => Math.floor(Date.now() / 1000);

/** Opens the pool and creates the tables; returns the adapter class and a close(). */
export async function createPgAdapter(dsn, { max = 10 } = {}) {
  const sql = postgres(dsn, { max, onnotice: () => {}, idle_timeout: 0 });
  for (const model of models) {
    const t = tableOf(model);
    await sql.unsafe(`create table if not exists ${t} (
      id text primary key,
      payload jsonb not null,
      grant_id text,
      uid text,
      user_code text,
      expires_at bigint,
      consumed_at bigint
    )`);
    await sql.unsafe(`create index if not exists ${t}_grant_id_idx on ${t} (grant_id) where grant_id is not null`);
    await sql.unsafe(`create index if not exists ${t}_uid_idx on ${t} (uid) where uid is not null`);
    await sql.unsafe(`create index if not exists ${t}_user_code_idx on ${t} (user_code) where user_code is not null`);
  }

  const open = (row) => {
    if (!row) return undefined;
    return row.consumed_at === null ? row.payload : { ...row.payload, consumed: Number(row.consumed_at) };
  };

  class PgAdapter {
    constructor(name) {
      this.table = sql(tableOf(name));
    }

    async upsert(id, payload, expiresIn) {
      const expiresAt = expiresIn ? epochNow() + expiresIn : null;
      await sql`
        insert into ${this.table} (id, payload, grant_id, uid, user_code, expires_at)
        values (${id}, ${sql.json(payload)}, ${payload.grantId ?? null}, ${payload.uid ?? null}, ${payload.userCode ?? null}, ${expiresAt})
        on conflict (id) do update set payload = excluded.payload, grant_id = excluded.grant_id,
          uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at`;
    }

    async find(id) {
      const [row] = await sql`
        select payload, consumed_at from ${this.table}
        where id = ${id} and (expires_at is null or expires_at > ${epochNow()})`;
      return open(row);
    }

    async findByUid(uid) {
      const [row] = await sql`
        select payload, consumed_at from ${this.table}
        where uid = ${uid} and (expires_at is null or expires_at > ${epochNow()})`;
      return open(row);
    }

    async findByUserCode(userCode) {
      const [row] = await sql`
        select payload, consumed_at from ${this.table}
        where user_code = ${userCode} and (expires_at is null or expires_at > ${epochNow()})`;
      return open(row);
    }

    async consume(id) {
      await sql`update ${this.table} set consumed_at = ${epochNow()} where id = ${id}`;
    }

    async destroy(id) {
      await sql`delete from ${this.table} where id = ${id}`;
    }

    async revokeByGrantId(grantId) {
      await sql`delete from ${this.table} where grant_id = ${grantId}`;
    }
  }

  return {
    PgAdapter,
    ping: async () => {
      await sql`select 1`;
    },
    close: () => sql.end({ timeout: 5 }),
  };
}
