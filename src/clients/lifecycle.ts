/**
 * @module What writing and deleting a client entails beyond its row, shared by the
 * admin API (routes.ts) and dynamic registration (dynamic-registration.ts), so that
 * neither imports the other's handlers.
 */
import type { Deps } from "../deps.ts";
import { deleteFlowsOfClient } from "../flows/store.ts";
import { deleteClientTokens } from "../oauth2/store.ts";
import type { Db } from "../storage/db.ts";
import type { ClientInput } from "./schemas.ts";
import { generateClientSecret, hashClientSecret } from "./secrets.ts";
import { deleteClient, type SecretChange } from "./store.ts";
import { usesClientSecret } from "./types.ts";

/**
 * What happens to the secret when a client is written. A chosen secret replaces the old one;
 * a client that authenticates with a secret but has none gets a generated one; a public
 * client keeps none. Only a new secret is ever returned, once.
 */
export async function planSecret(deps: Deps, input: ClientInput, hasStoredSecret: boolean): Promise<{ change: SecretChange; plaintext?: string }> {
  const method = input.fields.tokenEndpointAuthMethod;
  if (method === "none") return { change: hasStoredSecret ? { kind: "clear" } : { kind: "keep" } };
  const plaintext = input.clientSecret ?? (usesClientSecret(method) && !hasStoredSecret ? generateClientSecret() : undefined);
  if (plaintext === undefined) return { change: { kind: "keep" } };
  return { change: { kind: "set", hash: await hashClientSecret(deps.config.oauth2.hashers, plaintext) }, plaintext };
}

/**
 * Everything that goes away with a client, in one transaction (Hydra relies on ON DELETE
 * CASCADE for these). Returns false when the client did not exist.
 */
export async function deleteClientAndDependents(tx: Db, clientId: string): Promise<boolean> {
  const deleted = await deleteClient(tx, clientId);
  if (deleted) {
    // Its access and refresh tokens and authorization codes (oauth2/store.ts), and its
    // flows, remembered consents, forced subjects and logout requests (flows/store.ts).
    await deleteClientTokens(tx, clientId);
    await deleteFlowsOfClient(tx, clientId);
  }
  return deleted;
}
