/**
 * @module OpenID Connect Back-Channel Logout 1.0: the Logout Token (§2.4) and its delivery
 * (§2.5) to each client's backchannel_logout_uri. Deliveries run in the background, never on
 * the user's request: a queue per server with bounded concurrency and length, one POST per
 * client with a short timeout, redirects not followed. Results are counted in
 * gatehouse_backchannel_logout_total and failures logged, without the token.
 */
import { randomUUID } from "node:crypto";
import type { Deps } from "../deps.ts";
import { signJwt } from "../keys/jws.ts";
import { signingKey } from "../keys/signing.ts";
import { idTokenSet } from "../keys/types.ts";
import { outboundFetch, outboundPolicy } from "../lib/outbound.ts";

/** §2.4: the event that makes a JWT a Logout Token. */
export const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout";
/** §4: "preferably at most two minutes in the future". */
export const logoutTokenLifetimeSeconds = 120;
/** A receiver that has not answered by then is given up on (and counted as an error). */
export const backchannelTimeoutMs = 5_000;
/** Deliveries in flight at once, per server. */
export const backchannelConcurrency = 16;
/** Deliveries waiting at most; beyond that new ones are dropped (counted, logged). */
export const backchannelQueueLimit = 10_000;

type BackchannelDeps = Pick<Deps, "config" | "db" | "clock" | "log" | "metrics">;

export interface BackchannelTarget {
  clientId: string;
  uri: string;
  /** The subject as this client knows it (pairwise or forced applied). */
  subject: string;
  sid: string;
}

/**
 * A Logout Token for one client: iss, aud [client_id], iat, exp, jti, sub, sid and the
 * back-channel event; never a nonce (§2.4). `sid` is always included, as Hydra does, whether
 * or not the client set backchannel_logout_session_required (§2.4 allows it either way).
 * Explicitly typed `logout+jwt` (§2.4, RFC 8725 §3.11), signed with the ID-token key.
 */
export async function buildLogoutToken(deps: Pick<Deps, "config" | "db" | "clock">, target: BackchannelTarget, now: Date): Promise<string> {
  const key = await signingKey(deps, idTokenSet);
  const iat = Math.floor(now.getTime() / 1000);
  return signJwt(key, "logout+jwt", {
    iss: deps.config.urls.self.issuer,
    aud: [target.clientId],
    iat,
    exp: iat + logoutTokenLifetimeSeconds,
    jti: randomUUID(),
    sub: target.subject,
    sid: target.sid,
    events: { [backchannelLogoutEvent]: {} },
  });
}

interface Job {
  clientId: string;
  uri: string;
  token: string;
  done: () => void;
}

/** Where a failure is reported: scheme, host and path of the receiver, never its query. */
function describe(uri: string): string {
  try {
    const u = new URL(uri);
    return `${u.origin}${u.pathname}`;
  } catch {
    return "(unparsable URI)";
  }
}

class BackchannelQueue {
  private active = 0;
  private readonly waiting: Job[] = [];

  constructor(private readonly deps: BackchannelDeps) {}

  push(job: Job): void {
    if (this.waiting.length >= backchannelQueueLimit) {
      this.fail(job, `the delivery queue is full (${backchannelQueueLimit} waiting)`);
      job.done();
      return;
    }
    this.waiting.push(job);
    this.pump();
  }

  private pump(): void {
    while (this.active < backchannelConcurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.active++;
      void this.deliver(job).finally(() => {
        this.active--;
        job.done();
        this.pump();
      });
    }
  }

  private fail(job: Job, reason: string): void {
    this.deps.metrics.backchannelLogout("error");
    this.deps.log.withTag("logout").warn(`back-channel logout of client "${job.clientId}" at ${describe(job.uri)} failed: ${reason}`);
  }

  /** §2.5: POST, form-encoded `logout_token`; §2.8: the RP answers 200 (some frameworks 204). */
  private async deliver(job: Job): Promise<void> {
    try {
      // The SSRF guard (clients.http.*): a refused receiver is logged like any failed one.
      const res = await outboundFetch(outboundPolicy(this.deps.config), job.uri, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-store" },
        body: new URLSearchParams({ logout_token: job.token }).toString(),
        signal: AbortSignal.timeout(backchannelTimeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) this.deps.metrics.backchannelLogout("ok");
      else this.fail(job, `the receiver answered status ${res.status}`);
    } catch (err) {
      const name = (err as Error).name;
      this.fail(job, name === "TimeoutError" || name === "AbortError" ? `no answer within ${backchannelTimeoutMs} ms` : (err as Error).message);
    }
  }
}

/** One queue per Deps (per server), never a module-level one, so two servers in a process stay apart. */
const queues = new WeakMap<object, BackchannelQueue>();

function queueOf(deps: BackchannelDeps): BackchannelQueue {
  let queue = queues.get(deps);
  if (!queue) queues.set(deps, (queue = new BackchannelQueue(deps)));
  return queue;
}

/**
 * Signs a Logout Token per target and queues its delivery. Callers do not await it (the
 * returned promise, which never rejects, settles once every delivery ended): a slow or dead
 * receiver must never hold the user's logout.
 */
export function sendBackchannelLogout(deps: BackchannelDeps, targets: readonly BackchannelTarget[]): Promise<void> {
  if (targets.length === 0) return Promise.resolve();
  const now = deps.clock.now();
  const queue = queueOf(deps);
  return Promise.all(
    targets.map(async (target) => {
      let token: string;
      try {
        token = await buildLogoutToken(deps, target, now);
      } catch (err) {
        deps.metrics.backchannelLogout("error");
        deps.log.withTag("logout").error(`back-channel logout of client "${target.clientId}": the logout token could not be signed`, err);
        return;
      }
      await new Promise<void>((done) => queue.push({ clientId: target.clientId, uri: target.uri, token, done }));
    }),
  ).then(() => undefined);
}
