/**
 * @module Offset pagination as Hydra v1 does it (ory/x v0.0.368 pagination): `limit`/`offset`
 * query parsing and the `X-Total-Count` + `Link` headers, quirks included, so that clients
 * written against Hydra follow the same links.
 */

export interface Page {
  limit: number;
  offset: number;
}

/**
 * pagination.Parse(r, defaultLimit, 0, maxLimit): unparsable values fall back to the defaults,
 * limit is capped at maxLimit, negatives become 0. Unlike Hydra, a limit of 0 becomes 1
 * (Hydra divides by it and fails with a 500).
 */
export function parsePage(query: URLSearchParams, defaultLimit = 100, maxLimit = 500): Page {
  const int = (name: string, fallback: number) => {
    const text = query.get(name);
    return text !== null && /^[+-]?\d+$/.test(text) ? Number.parseInt(text, 10) : fallback;
  };
  const limit = Math.max(1, Math.min(int("limit", defaultLimit), maxLimit));
  const offset = Math.max(0, int("offset", 0));
  return { limit, offset };
}

/** Go's url.QueryEscape: unreserved characters stay, space becomes "+". */
function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

/** Go's url.Values.Encode(): keys sorted, each key's values in their order. */
function encodeSorted(params: Map<string, string[]>): string {
  return [...params.keys()]
    .sort()
    .flatMap((k) => params.get(k)!.map((v) => `${queryEscape(k)}=${queryEscape(v)}`))
    .join("&");
}

function link(url: URL, rel: string, limit: number, offset: number): string {
  const params = new Map<string, string[]>();
  for (const [k, v] of url.searchParams) params.set(k, [...(params.get(k) ?? []), v]);
  params.set("limit", [String(limit)]);
  params.set("offset", [String(offset)]);
  // Hydra links are relative: the request URI's path and query.
  return `<${url.pathname}?${encodeSorted(params)}>; rel="${rel}"`;
}

/** ory/x pagination.Header: X-Total-Count and Link (first/next/prev/last as Hydra computes them). */
export function paginationHeaders(url: URL, total: number, limit: number, offset: number): Record<string, string> {
  if (offset < 0) offset = 0;
  if (limit <= 0) limit = 1;
  const headers: Record<string, string> = { "X-Total-Count": String(total) };
  const lastOffset = total % limit === 0 ? total - limit : Math.floor(total / limit) * limit;
  const page = Math.floor(offset / limit);

  if (offset >= lastOffset) {
    if (total === 0) {
      headers.Link = [link(url, "first", limit, 0), link(url, "next", limit, (page + 1) * limit), link(url, "prev", limit, (page - 1) * limit)].join(",");
    } else if (total < limit) {
      headers.Link = link(url, "first", total, 0);
    } else {
      headers.Link = [link(url, "first", limit, 0), link(url, "prev", limit, lastOffset - limit)].join(",");
    }
    return headers;
  }
  if (offset < limit) {
    headers.Link = [link(url, "next", limit, limit), link(url, "last", limit, lastOffset)].join(",");
    return headers;
  }
  headers.Link = [
    link(url, "first", limit, 0),
    link(url, "next", limit, (page + 1) * limit),
    link(url, "prev", limit, (page - 1) * limit),
    link(url, "last", limit, lastOffset),
  ].join(",");
  return headers;
}
