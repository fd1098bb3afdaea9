/**
 * @module What this process publishes from the key sets, built once and reused: the JWK Set
 * of /.well-known/jwks.json as ready bytes, and the algorithm ID tokens are signed with (for
 * discovery). Rebuilt only when the key table has changed.
 *
 * Invalidation, for processes sharing one database:
 * - a key written through this process's admin API marks the snapshot stale at once
 *   (keySetsChanged), so the next request rebuilds it;
 * - writes elsewhere (another instance, the `gatehouse keys` CLI) are found by comparing a
 *   one-row fingerprint of json_web_keys (store.ts), checked at most every
 *   publishedKeysCheckMs: past half that age a request starts a check in the background and is
 *   served the current bytes; past the whole age it waits for the check. A change anywhere is
 *   therefore served everywhere within publishedKeysCheckMs (plus one query), and under steady
 *   load no request waits. A timer would need stopping; checks driven by requests do not.
 *   When a check fails (database down) the last snapshot is served (keepServing).
 */
import type { Config } from "../config/schema.ts";
import type { Deps } from "../deps.ts";
import { publishedKeysCheckMs } from "./defaults.ts";
import { forgetSigningKey, signingKey } from "./signing.ts";
import { keyTableFingerprint, publishedKeys } from "./store.ts";
import { accessTokenSet, idTokenSet } from "./types.ts";

export interface PublishedKeys {
  /** The serialised JWK Set, encoded once. */
  jwks: Uint8Array;
  /** Algorithm of the ID-token set's signing key; undefined when it cannot be read (see /health/ready). */
  idTokenAlg: string | undefined;
}

interface Snapshot extends PublishedKeys {
  fingerprint: string;
  /** performance.now() when the fingerprint was read (before, so the bound holds). */
  checkedAt: number;
  generation: number;
}

interface State {
  /** Bumped by every local write; a snapshot of an older generation is not served. */
  generation: number;
  current?: Snapshot;
  refreshing?: { generation: number; done: Promise<Snapshot> };
}

type PublishedDeps = Pick<Deps, "db" | "config" | "clock">;

/** Per Deps, as the signing-key cache (signing.ts): two servers in one process never share. */
const states = new WeakMap<object, State>();

function stateOf(deps: PublishedDeps): State {
  let state = states.get(deps);
  if (!state) states.set(deps, (state = { generation: 0 }));
  return state;
}

/**
 * Hydra's WellKnownKeys (driver/config/provider.go): webfinger.jwks.broadcast_keys, then the
 * ID-token set always, then the JWT access-token set when access tokens are JWTs.
 */
export function wellKnownKeySets(config: Pick<Config, "webfinger" | "strategies">): string[] {
  const sets = [...config.webfinger.jwks.broadcast_keys, idTokenSet];
  if (config.strategies.access_token === "jwt") sets.push(accessTokenSet);
  return [...new Set(sets)];
}

/** Called after every key write through this process: the next request rebuilds. */
export function keySetsChanged(deps: PublishedDeps, setId: string): void {
  forgetSigningKey(deps, setId);
  stateOf(deps).generation++;
}

/**
 * The current snapshot: synchronously while it is fresh (the hot path of jwks.json and
 * discovery), else after one fingerprint check (and a rebuild when the table changed).
 */
export function currentPublishedKeys(deps: PublishedDeps): PublishedKeys | Promise<PublishedKeys> {
  const state = stateOf(deps);
  const snapshot = state.current;
  if (snapshot && snapshot.generation === state.generation) {
    const age = performance.now() - snapshot.checkedAt;
    if (age < publishedKeysCheckMs / 2) return snapshot;
    if (age < publishedKeysCheckMs) {
      refresh(deps, state).catch(() => keepServing(state));
      return snapshot;
    }
  }
  return refresh(deps, state).catch((err: unknown) => {
    if (!state.current) throw err;
    keepServing(state);
    return state.current;
  });
}

/**
 * A check failed (database unreachable): nothing can change the keys through a database no one
 * reaches, and relying parties cache the document for a minute anyway, so the last snapshot is
 * served at once and the next request retries in the background rather than waiting on a
 * connection timeout.
 */
function keepServing(state: State): void {
  if (state.current) state.current = { ...state.current, checkedAt: performance.now() - publishedKeysCheckMs / 2, generation: state.generation };
}

/** One check at a time per generation; a local write during a check starts another. */
function refresh(deps: PublishedDeps, state: State): Promise<Snapshot> {
  const generation = state.generation;
  if (state.refreshing?.generation === generation) return state.refreshing.done;
  const done = check(deps, state.current, generation).then((snapshot) => {
    // A newer generation's snapshot may have landed first; never replace it with an older one.
    if (!state.current || state.current.generation <= generation) state.current = snapshot;
    return snapshot;
  });
  const refreshing = { generation, done };
  state.refreshing = refreshing;
  const clear = () => {
    if (state.refreshing === refreshing) state.refreshing = undefined;
  };
  done.then(clear, clear);
  return done;
}

async function check(deps: PublishedDeps, previous: Snapshot | undefined, generation: number): Promise<Snapshot> {
  const checkedAt = performance.now();
  // Read first: a write landing after this read changes the fingerprint seen by the next check.
  const fingerprint = await keyTableFingerprint(deps.db);
  // After a local write, rebuild whatever the fingerprint says (a test clock can give a replaced key its old time).
  if (previous && previous.generation === generation && previous.fingerprint === fingerprint) return { ...previous, checkedAt };
  if (previous) {
    // Written elsewhere: this process's signing keys may be stale too (signing.ts would keep them up to its TTL).
    forgetSigningKey(deps, idTokenSet);
    forgetSigningKey(deps, accessTokenSet);
  }
  const keys = await publishedKeys(deps.db, wellKnownKeySets(deps.config));
  const idTokenAlg = await signingKey(deps, idTokenSet).then(
    (key) => key.alg,
    () => undefined,
  );
  return { jwks: new TextEncoder().encode(JSON.stringify({ keys })), idTokenAlg, fingerprint, checkedAt, generation };
}
