/**
 * @module sector_identifier_uri validation at registration time (OpenID Connect Registration
 * 1.0 §5, Core §8.1; Hydra client/validator.go ValidateSectorIdentifierURL), for the admin API
 * and dynamic registration alike: the document is fetched and must be a non-empty JSON array
 * of strings listing every redirect_uri of the client, or the registration fails with 400
 * invalid_client_metadata naming the field.
 *
 * The fetch (oauth2/remote-document.ts) has a 3 s timeout, a 64 KiB body limit, follows no
 * redirects, wants a 200 and goes through the SSRF guard (lib/outbound.ts). Where the URI may point is decided by the schema
 * (sectorIdentifierUriAllowed): https, plus http to loopback hosts only under --dev or
 * --dangerous-force-http. The flow-time check in flows/pairwise.ts still runs, since the
 * document can change after registration.
 */
import type { Config } from "../config/schema.ts";
import type { Deps } from "../deps.ts";
import { outboundPolicy } from "../lib/outbound.ts";
import { fetchRemoteDocument, RemoteDocumentError, remoteDocumentMaxBytes, remoteDocumentTimeoutMs } from "../oauth2/remote-document.ts";
import { clientMetadataError, sectorIdentifierUriAllowed } from "./schemas.ts";
import type { OAuth2Client } from "./types.ts";

type SectorFields = Pick<OAuth2Client, "sectorIdentifierUri" | "redirectUris">;

/** True when an update leaves the checked pair as it was: same URI, and no redirect URI the last check did not cover. */
function alreadyChecked(next: SectorFields, previous: SectorFields | undefined): boolean {
  if (!previous || previous.sectorIdentifierUri !== next.sectorIdentifierUri) return false;
  const covered = new Set(previous.redirectUris ?? []);
  return (next.redirectUris ?? []).every((r) => covered.has(r));
}

/**
 * Throws 400 invalid_client_metadata unless the client's sector_identifier_uri (if any) lists
 * all its redirect URIs. `previous` is the stored client on updates: an update that keeps the
 * URI and adds no redirect URI is not fetched again, so an unrelated edit does not depend on
 * the document's host being up.
 */
export async function checkSectorIdentifier(deps: Pick<Deps, "mode"> & { config: Pick<Config, "clients"> }, client: SectorFields, previous?: SectorFields): Promise<void> {
  const uri = client.sectorIdentifierUri;
  if (!uri || alreadyChecked(client, previous)) return;
  // The schema has refused these already; checked again so that no caller can make us fetch over plain http.
  if (!sectorIdentifierUriAllowed(uri, deps.mode)) throw clientMetadataError(`Field sector_identifier_uri must be an HTTPS URL, got '${uri}'.`);

  let text: string;
  try {
    text = await fetchRemoteDocument(outboundPolicy(deps.config), uri, "application/json");
  } catch (err) {
    if (!(err instanceof RemoteDocumentError)) throw err;
    if (err.refused) {
      throw clientMetadataError(`Field sector_identifier_uri: '${uri}' points to a loopback, private or otherwise non-public address, which this server does not fetch.`).withDebug(err.message);
    }
    // The reason (status, connection error, size) goes to error_debug only: the registrant may be anyone.
    throw clientMetadataError(
      `Field sector_identifier_uri: unable to fetch '${uri}' (expected a 200 response of at most ${remoteDocumentMaxBytes} bytes within ${remoteDocumentTimeoutMs} ms).`,
    ).withDebug(err.message);
  }
  let listed: unknown;
  try {
    listed = JSON.parse(text);
  } catch (err) {
    throw clientMetadataError(`Field sector_identifier_uri: the document at '${uri}' is not a JSON array of redirect URIs.`).withDebug((err as Error).message);
  }
  if (!Array.isArray(listed) || !listed.every((u) => typeof u === "string")) {
    throw clientMetadataError(`Field sector_identifier_uri: the document at '${uri}' is not a JSON array of redirect URIs.`);
  }
  if (listed.length === 0) throw clientMetadataError(`Field sector_identifier_uri: the document at '${uri}' lists no redirect URIs.`);
  const known = new Set(listed as string[]);
  // Exact string comparison, as redirect URIs are matched at the authorization endpoint.
  const missing = (client.redirectUris ?? []).find((r) => !known.has(r));
  if (missing !== undefined) {
    throw clientMetadataError(`Field sector_identifier_uri: the document at '${uri}' does not list the redirect URI '${missing}'.`);
  }
}
