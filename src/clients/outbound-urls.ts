/**
 * @module Registration-time SSRF check of the URLs the server will itself fetch or POST to
 * for a client: jwks_uri, request_uris and backchannel_logout_uri (sector_identifier_uri is
 * fetched, and so checked, by sector-identifier.ts). A URL whose host is, or resolves to, an
 * address the outbound policy refuses (clients.http.*) fails the registration with 400
 * invalid_client_metadata naming the field, so the registrant learns it now rather than at
 * the first token request. A name that does not resolve yet is let through: the check that
 * counts runs again at every fetch (lib/outbound.ts), since DNS can change after registration.
 */
import type { Config } from "../config/schema.ts";
import { checkOutboundUrl, outboundPolicy, OutboundRefusedError } from "../lib/outbound.ts";
import { clientMetadataError } from "./schemas.ts";
import type { OAuth2Client } from "./types.ts";

type OutboundFields = Pick<OAuth2Client, "jwksUri" | "requestUris" | "backchannelLogoutUri">;

function outboundUrls(client: OutboundFields): [field: string, url: string][] {
  const out: [string, string][] = [];
  if (client.jwksUri) out.push(["jwks_uri", client.jwksUri]);
  for (const u of client.requestUris ?? []) out.push(["request_uris", u]);
  if (client.backchannelLogoutUri) out.push(["backchannel_logout_uri", client.backchannelLogoutUri]);
  return out;
}

/**
 * Throws 400 invalid_client_metadata when one of the client's outbound URLs is refused.
 * `previous` is the stored client on updates: URLs it already had are not looked up again.
 */
export async function checkOutboundUrls(deps: { config: Pick<Config, "clients"> }, client: OutboundFields, previous?: OutboundFields): Promise<void> {
  const policy = outboundPolicy(deps.config);
  if (!policy.disallowPrivateIpRanges) return;
  const known = new Set(previous ? outboundUrls(previous).map(([f, u]) => `${f} ${u}`) : []);
  const fresh = outboundUrls(client).filter(([f, u]) => !known.has(`${f} ${u}`));
  await Promise.all(
    fresh.map(async ([field, raw]) => {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return; // the schema judges the syntax and the scheme
      }
      if (url.protocol !== "https:" && url.protocol !== "http:") return;
      try {
        await checkOutboundUrl(policy, url);
      } catch (err) {
        if (!(err instanceof OutboundRefusedError)) throw err;
        if (err.kind === "unresolved") return;
        throw clientMetadataError(`Field ${field}: '${raw}' points to a loopback, private or otherwise non-public address, which this server does not reach.`).withDebug(err.message);
      }
    }),
  );
}
