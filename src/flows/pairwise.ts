/**
 * @module Subject identifiers (OIDC Core §8): the subject a client sees. Public clients see
 * the login app's subject; pairwise clients see hex(SHA-256(sector + subject + salt)),
 * exactly as Hydra (consent/subject_identifier_algorithm_pairwise.go) so that subjects
 * survive a migration from Hydra: the sector is the whole sector_identifier_uri when set,
 * else the host (with port) of the client's only redirect URI. force_subject_identifier from
 * login accept overrides the computed value. The sector document is checked here, at flow
 * time, because client registration does not fetch it (OIDC Registration §5).
 */
import { createHash } from "node:crypto";
import type { StoredClient } from "../clients/types.ts";
import type { Deps } from "../deps.ts";
import { subjectTypesSupported } from "../discovery/openid-configuration.ts";
import { invalidRequest } from "../errors.ts";
import { outboundPolicy } from "../lib/outbound.ts";
import { fetchRemoteDocument, RemoteDocumentError } from "../oauth2/remote-document.ts";

/** How long a fetched sector document is trusted before it is fetched again. */
export const sectorDocumentCacheMs = 5 * 60_000;
const maxCachedSectors = 256;

type PairwiseDeps = Pick<Deps, "config" | "clock">;

/** Hydra's Obfuscate; throws invalid_request for a client it cannot compute a sector for. */
export function pairwiseSubject(config: PairwiseDeps["config"], client: Pick<StoredClient, "clientId" | "sectorIdentifierUri" | "redirectUris">, subject: string): string {
  const redirects = client.redirectUris ?? [];
  let sector: string;
  if (client.sectorIdentifierUri) {
    sector = client.sectorIdentifierUri;
  } else if (redirects.length > 1) {
    throw invalidRequest(undefined, {
      hint: `OAuth 2.0 Client ${client.clientId} has multiple redirect_uris but no sector_identifier_uri was set which is not allowed when performing using subject type pairwise. Please reconfigure the OAuth 2.0 client properly.`,
    });
  } else if (redirects.length === 0) {
    throw invalidRequest(undefined, {
      hint: `OAuth 2.0 Client ${client.clientId} neither specifies a sector_identifier_uri nor a redirect_uri which is not allowed when performing using subject type pairwise. Please reconfigure the OAuth 2.0 client properly.`,
    });
  } else {
    // Go's url.URL.Host: the host with its port when the URI has one (default ports stay too).
    const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^/?#]*)/.exec(redirects[0]!);
    sector = m?.[1] ?? "";
  }
  return createHash("sha256").update(sector + subject + config.oidc.subject_identifiers.pairwise.salt).digest("hex");
}

/**
 * The subject as `client` sees it. `forced` (force_subject_identifier) wins for pairwise
 * clients; public clients always see the subject itself (Hydra obfuscateSubjectIdentifier).
 */
export function subjectIdentifier(config: PairwiseDeps["config"], client: StoredClient, subject: string, forced: string | undefined): string {
  if (client.subjectType !== "pairwise") return subject;
  if (!subjectTypesSupported(config).includes("pairwise")) {
    throw invalidRequest(undefined, {
      hint: `Subject Identifier Algorithm 'pairwise' was requested by OAuth 2.0 Client '${client.clientId}' but is not configured.`,
    });
  }
  return forced || pairwiseSubject(config, client, subject);
}

interface Cached {
  expiresAt: number;
  uris: string[];
}
const sectorCaches = new WeakMap<object, Map<string, Cached>>();

/** The redirect URIs a sector document lists (a JSON array of strings, OIDC Core §8.1). */
async function sectorDocument(deps: PairwiseDeps, uri: string): Promise<string[]> {
  let cache = sectorCaches.get(deps);
  if (!cache) sectorCaches.set(deps, (cache = new Map()));
  const now = deps.clock.now().getTime();
  const hit = cache.get(uri);
  if (hit && hit.expiresAt > now) return hit.uris;
  let text: string;
  try {
    text = await fetchRemoteDocument(outboundPolicy(deps.config), uri, "application/json");
  } catch (err) {
    if (err instanceof RemoteDocumentError) {
      throw invalidRequest(undefined, { hint: "Unable to fetch the client's sector_identifier_uri.", debug: err.message });
    }
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidRequest(undefined, { hint: "The client's sector_identifier_uri does not hold a JSON array of redirect URIs." });
  }
  if (!Array.isArray(parsed) || !parsed.every((u) => typeof u === "string")) {
    throw invalidRequest(undefined, { hint: "The client's sector_identifier_uri does not hold a JSON array of redirect URIs." });
  }
  cache.set(uri, { expiresAt: now + sectorDocumentCacheMs, uris: parsed });
  while (cache.size > maxCachedSectors) cache.delete(cache.keys().next().value!);
  return parsed;
}

/**
 * OIDC Core §8.1 / Registration §5: a pairwise client's sector_identifier_uri must be https
 * and list every one of its redirect URIs. Checked before a flow starts.
 */
export async function checkPairwiseClient(deps: PairwiseDeps, client: StoredClient): Promise<void> {
  if (client.subjectType !== "pairwise") return;
  // Computes (and so validates) the sector even without a document.
  subjectIdentifier(deps.config, client, "", undefined);
  if (!client.sectorIdentifierUri) return;
  let url: URL;
  try {
    url = new URL(client.sectorIdentifierUri);
  } catch {
    throw invalidRequest(undefined, { hint: "The client's sector_identifier_uri is not a URL." });
  }
  if (url.protocol !== "https:") throw invalidRequest(undefined, { hint: "The client's sector_identifier_uri must use https." });
  const listed = await sectorDocument(deps, client.sectorIdentifierUri);
  const missing = (client.redirectUris ?? []).find((r) => !listed.includes(r));
  if (missing !== undefined) {
    throw invalidRequest(undefined, { hint: `The client's sector_identifier_uri does not list its redirect URI '${missing}'.` });
  }
}
