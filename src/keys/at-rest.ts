/**
 * @module Keys at rest under secrets.system: which sets no listed secret opens (for the
 * start-up log and /health/ready), and re-sealing every key under secrets.system[0]
 * (`gatehouse keys rotate-secret`). Nothing here deletes a key.
 */
import { seal, sealedWith, unseal } from "../lib/crypto.ts";
import type { Db } from "../storage/db.ts";
import { jwkSealPurpose, sealedKeys, updateSealed, withKeysLock } from "./store.ts";

/** Set id → kids that none of `secrets` opens. Empty when every key opens. */
export async function undecryptableKeys(db: Db, secrets: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const key of await sealedKeys(db)) {
    if (sealedWith(secrets, key.sealed, jwkSealPurpose) >= 0) continue;
    out.set(key.setId, [...(out.get(key.setId) ?? []), key.kid]);
  }
  return out;
}

/** One line an operator can act on, naming the sets (never a secret). */
export function describeUndecryptable(unreadable: ReadonlyMap<string, string[]>): string {
  const sets = [...unreadable].map(([setId, kids]) => `${setId} (${kids.length} key${kids.length === 1 ? "" : "s"})`);
  return (
    `cannot decrypt the JSON Web Keys of set(s) ${sets.join(", ")} with any of secrets.system: the secret they were sealed with ` +
    `was changed or removed. Put the old secret back in secrets.system (after the new one) and run "gatehouse keys rotate-secret", ` +
    `or delete and recreate these sets`
  );
}

export interface RotationReport {
  /** Keys re-sealed under secrets[0] (they were opened by an older secret). */
  resealed: number;
  /** Keys already sealed under secrets[0]. */
  current: number;
  /** Keys no listed secret opens: left exactly as they were. */
  unreadable: { setId: string; kid: string }[];
}

/**
 * Re-seals every key under secrets[0], in one transaction under the keys lock
 * (so a server starting meanwhile waits, and a failure changes nothing).
 */
export async function rotateKeySecret(db: Db, secrets: readonly string[]): Promise<RotationReport> {
  return withKeysLock(db, async (tx) => {
    const report: RotationReport = { resealed: 0, current: 0, unreadable: [] };
    for (const key of await sealedKeys(tx)) {
      const index = sealedWith(secrets, key.sealed, jwkSealPurpose);
      if (index === 0) {
        report.current++;
      } else if (index < 0) {
        report.unreadable.push({ setId: key.setId, kid: key.kid });
      } else {
        const plain = unseal([secrets[index]!], key.sealed, jwkSealPurpose);
        await updateSealed(tx, key.setId, key.kid, seal(secrets, plain, jwkSealPurpose));
        report.resealed++;
      }
    }
    return report;
  });
}
