/**
 * @module Outbound HTTP made on a client's behalf (sector_identifier_uri, jwks_uri,
 * request_uri, back-channel logout): the SSRF guard. Hydra v2's `clients.http.*` keys and
 * semantics: with `disallow_private_ip_ranges` (Gatehouse default: on) a URL whose host is,
 * or resolves to, a loopback, private, link-local, CGNAT, unique-local, multicast or other
 * non-public address is refused, unless it is listed in `private_ip_exception_urls` (exact
 * URL, compared without query and fragment, as ory/x httpx does).
 *
 * The host is resolved once and the request goes to the address that was checked (the URL's
 * host replaced by the IP, with the Host header and, for https, the TLS server name kept as
 * the original host), so DNS cannot answer one address to the check and another to the
 * connection. Redirects are never followed: a 3xx comes back to the caller as it is.
 */
import { lookup } from "node:dns/promises";
import type { Config } from "../config/schema.ts";
import { parseCidr, parseIp, type Cidr } from "./cidr.ts";

export interface OutboundPolicy {
  disallowPrivateIpRanges: boolean;
  privateIpExceptionUrls: readonly string[];
}

export function outboundPolicy(config: Pick<Config, "clients">): OutboundPolicy {
  return {
    disallowPrivateIpRanges: config.clients.http.disallow_private_ip_ranges,
    privateIpExceptionUrls: config.clients.http.private_ip_exception_urls,
  };
}

/**
 * The request was not sent: its target is not one we may reach for a client (`forbidden`), or
 * its host name has no address we could check (`unresolved`).
 */
export class OutboundRefusedError extends Error {
  override name = "OutboundRefusedError";
  constructor(
    message: string,
    readonly kind: "forbidden" | "unresolved" = "forbidden",
  ) {
    super(message);
  }
}

/** Resolution must be quick: the registrant or a browser is waiting. */
export const outboundLookupTimeoutMs = 2_000;

const cidrs = (list: string[]): Cidr[] => list.map((c) => parseCidr(c)!);

/** IPv4 ranges that are not the public internet (IANA special-purpose registry). */
const refusedV4 = cidrs([
  "0.0.0.0/8", // "this network", 0.0.0.0 reaches the local host
  "10.0.0.0/8", // RFC 1918
  "100.64.0.0/10", // CGNAT, RFC 6598
  "127.0.0.0/8", // loopback
  "169.254.0.0/16", // link-local, cloud metadata (169.254.169.254)
  "172.16.0.0/12", // RFC 1918
  "192.0.0.0/24", // IETF protocol assignments
  "192.0.2.0/24", // documentation
  "192.88.99.0/24", // 6to4 relay anycast
  "192.168.0.0/16", // RFC 1918
  "198.18.0.0/15", // benchmarking
  "198.51.100.0/24", // documentation
  "203.0.113.0/24", // documentation
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, broadcast
]);

/**
 * IPv6: only global unicast (2000::/3) may be reached, minus the parts of it that tunnel to
 * or stand for other places. This leaves out ::, ::1, fc00::/7, fe80::/10, ff00::/8, NAT64
 * and IPv4-compatible forms; IPv4-mapped ones (::ffff:a.b.c.d) are judged as IPv4 by parseIp.
 */
const globalUnicastV6 = cidrs(["2000::/3"]);
const refusedV6 = cidrs([
  "2001::/23", // IETF protocol assignments, Teredo
  "2001:db8::/32", // documentation
  "2002::/16", // 6to4: embeds any IPv4 address
]);

/** Why an address may not be reached, or undefined when it may. */
export function refusedAddressReason(address: string): string | undefined {
  const ip = parseIp(address);
  if (!ip) return "it is not an IP address";
  const matches = (ranges: readonly Cidr[]) => ranges.some((r) => r.family === ip.family && (ip.value & r.mask) === r.base);
  if (ip.family === 4) return matches(refusedV4) ? "it is a loopback, private, link-local or otherwise non-public IPv4 address" : undefined;
  if (!matches(globalUnicastV6) || matches(refusedV6)) return "it is a loopback, unique-local, link-local or otherwise non-public IPv6 address";
  return undefined;
}

/** The URL without query and fragment, normalised (WHATWG), or undefined when it is no URL. */
function withoutQuery(text: string): string | undefined {
  try {
    const u = new URL(text);
    u.search = "";
    u.hash = "";
    return u.href;
  } catch {
    return undefined;
  }
}

function isException(policy: OutboundPolicy, url: URL): boolean {
  if (policy.privateIpExceptionUrls.length === 0) return false;
  const bare = withoutQuery(url.href);
  return policy.privateIpExceptionUrls.some((u) => withoutQuery(u) === bare);
}

/** The URL's host as a bare IP literal (no brackets), or undefined for a name. */
function ipLiteral(hostname: string): string | undefined {
  const bare = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  return parseIp(bare) ? bare : undefined;
}

async function resolveAll(hostname: string): Promise<string[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no DNS answer for ${hostname} within ${outboundLookupTimeoutMs} ms`)), outboundLookupTimeoutMs);
  });
  try {
    const found = await Promise.race([lookup(hostname, { all: true, verbatim: true }), timeout]);
    return found.map((a) => a.address);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Where a request to `url` may go: the address to connect to (undefined = connect by name,
 * as when the guard is off or the URL is an exception), or OutboundRefusedError. A name is
 * refused when ANY of its addresses is refused, so the answer does not depend on which one
 * would be picked.
 */
export async function checkOutboundUrl(policy: OutboundPolicy, url: URL): Promise<{ pinned?: string }> {
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new OutboundRefusedError(`${url.protocol} URLs are not fetched`);
  if (!policy.disallowPrivateIpRanges || isException(policy, url)) return {};
  const literal = ipLiteral(url.hostname);
  if (literal !== undefined) {
    const reason = refusedAddressReason(literal);
    if (reason) throw new OutboundRefusedError(`the host ${url.hostname} is refused: ${reason} (clients.http.disallow_private_ip_ranges)`);
    return {};
  }
  let addresses: string[];
  try {
    addresses = await resolveAll(url.hostname);
  } catch (err) {
    throw new OutboundRefusedError(`the host ${url.hostname} could not be resolved: ${(err as Error).message}`, "unresolved");
  }
  if (addresses.length === 0) throw new OutboundRefusedError(`the host ${url.hostname} has no address`, "unresolved");
  for (const address of addresses) {
    const reason = refusedAddressReason(address);
    if (reason) throw new OutboundRefusedError(`the host ${url.hostname} resolves to ${address}, which is refused: ${reason} (clients.http.disallow_private_ip_ranges)`);
  }
  return { pinned: addresses[0]! };
}

type FetchInit = RequestInit & { tls?: Record<string, unknown> };

/**
 * The request that reaches `address` for `url`: the URL's host replaced by the address, the
 * Host header kept, and for https the TLS server name (SNI and certificate check) kept as the
 * URL's host name, so the server sees the request it would have seen by name.
 */
export function pinTo(url: URL, address: string, init: FetchInit = {}): [URL, FetchInit] {
  const direct = new URL(url.href);
  direct.hostname = address.includes(":") ? `[${address}]` : address;
  const headers = new Headers(init.headers);
  headers.set("Host", url.host);
  const pinned: FetchInit = { ...init, headers };
  if (url.protocol === "https:") pinned.tls = { ...init.tls, serverName: url.hostname };
  // A pooled connection to the same IP may have been opened for another name (another SNI).
  pinned.keepalive = false;
  return [direct, pinned];
}

/**
 * fetch() for a client-supplied URL: checked by the policy, connected to the checked address,
 * redirects never followed. Throws OutboundRefusedError before sending anything when refused;
 * network errors are fetch's own.
 */
export async function outboundFetch(policy: OutboundPolicy, target: string | URL, init: FetchInit = {}): Promise<Response> {
  const url = new URL(target);
  const { pinned } = await checkOutboundUrl(policy, url);
  const options: FetchInit = { ...init, redirect: "manual" };
  if (pinned === undefined) return fetch(url, options);
  return fetch(...pinTo(url, pinned, options));
}
