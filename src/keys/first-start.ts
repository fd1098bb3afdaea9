/**
 * @module First start: the ID-token and JWT access-token sets exist before any listener
 * opens (Hydra v1 creates both, even with opaque tokens). Safe with N instances on one
 * empty database, and never fatal when secrets.system changed (hydra-v1 §7 items 1, 2).
 */
import { ConfigError } from "../config/load.ts";
import type { Deps } from "../deps.ts";
import { describeUndecryptable, undecryptableKeys } from "./at-rest.ts";
import { firstStartKeySpec, type FirstStartKeySpec } from "./defaults.ts";
import { generateKeys, generationAlgs, isAsymmetricSigningAlg, isRsaAlg, rsaSizes } from "./keystore.ts";
import { insertKeys, openKeySet, withKeysLock } from "./store.ts";
import { accessTokenSet, idTokenSet } from "./types.ts";

export const firstStartSets = [idTokenSet, accessTokenSet] as const;

/** The readiness check's name in /health/ready's {"errors": {...}}. */
export const keysReadinessName = "json_web_keys";

export interface FirstStartReport {
  /** Sets that got a new key pair now. */
  created: string[];
  /** Set id → kids no listed secret opens. */
  unreadable: Map<string, string[]>;
  durationMs: number;
}

/**
 * Creates each first-start set that has no private signature key, under an advisory lock
 * held in one transaction: the first instance generates and inserts, the others wait and
 * then see its keys (check-and-insert, never insert-and-hope as Hydra v1 did).
 * A set whose keys do not decrypt is left alone: regenerating would silently replace
 * the keys relying parties trust. Such sets are logged and keep /health/ready at 503.
 */
export async function ensureFirstStartKeys(deps: Deps, spec: FirstStartKeySpec = firstStartKeySpec(deps.config)): Promise<FirstStartReport> {
  checkSpec(spec);
  const log = deps.log.withTag("keys");
  const secrets = deps.config.secrets.system;
  const started = performance.now();
  const created = await withKeysLock(deps.db, async (tx) => {
    const made: string[] = [];
    for (const setId of firstStartSets) {
      const { keys, unreadable } = await openKeySet(tx, secrets, setId);
      if (unreadable.length > 0) continue;
      if (keys.some((k) => k.use === "sig" && isAsymmetricSigningAlg(k.alg) && k.jwk.d !== undefined)) continue;
      const jwks = await generateKeys({ alg: spec.alg, kid: "", use: "sig", bits: isRsaAlg(spec.alg) ? spec.bits : undefined });
      await insertKeys(tx, secrets, setId, jwks, deps.clock.now());
      made.push(setId);
      log.info(`created key set ${setId}: ${spec.alg}, kid ${jwks.at(-1)!.kid}`);
    }
    return made;
  });
  const unreadable = await undecryptableKeys(deps.db, secrets);
  if (unreadable.size > 0) log.error(`${describeUndecryptable(unreadable)}. Serving anyway; /health/ready answers 503 until this is fixed.`);
  // Checked again on every probe (one query, one AES-GCM open per key: microseconds each),
  // so deleting the bad sets or fixing the secret in another way shows without a restart.
  deps.readiness.set(keysReadinessName, async () => {
    const now = await undecryptableKeys(deps.db, secrets);
    return now.size > 0 ? describeUndecryptable(now) : undefined;
  });
  return { created, unreadable, durationMs: performance.now() - started };
}

/** Fails start-up like any other config problem, before anything is generated. */
function checkSpec(spec: FirstStartKeySpec) {
  const asymmetric = generationAlgs.filter(isAsymmetricSigningAlg);
  const problems: string[] = [];
  if (!(asymmetric as readonly string[]).includes(spec.alg)) {
    problems.push(`keys.first_start.algorithm: expected one of ${asymmetric.join(", ")}, got "${spec.alg}"`);
  }
  if (isRsaAlg(spec.alg) && !(rsaSizes as readonly number[]).includes(spec.bits)) {
    problems.push(`keys.first_start.rsa_bits: expected one of ${rsaSizes.join(", ")}, got ${spec.bits}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
