/** @module CIDR ranges and address matching, IPv4 and IPv6 (IPv4-mapped IPv6 counts as IPv4). */

export interface Cidr {
  family: 4 | 6;
  base: bigint;
  mask: bigint;
}

function parseIpv4(addr: string): bigint | undefined {
  const parts = addr.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
}

function parseIpv6(addr: string): bigint | undefined {
  const zoneless = addr.split("%")[0]!;
  let text = zoneless;
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hex groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const v4 = parseIpv4(quad[1]!);
    if (v4 === undefined) return undefined;
    text = `${text.slice(0, -quad[1]!.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

/** An address as (family, value); IPv4-mapped IPv6 is returned as IPv4. */
export function parseIp(addr: string): { family: 4 | 6; value: bigint } | undefined {
  const v4 = parseIpv4(addr);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseIpv6(addr.replace(/^\[|\]$/g, ""));
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

export function parseCidr(text: string): Cidr | undefined {
  const [addr, bitsText, ...rest] = text.trim().split("/");
  if (rest.length || !addr || !bitsText || !/^\d{1,3}$/.test(bitsText)) return undefined;
  const ip = parseIp(addr);
  if (!ip) return undefined;
  const width = ip.family === 4 ? 32 : 128;
  // ::ffff:10.0.0.0/104 is written in IPv6 terms but matches IPv4 peers.
  const bits = ip.family === 4 && parseIpv4(addr) === undefined ? Number(bitsText) - 96 : Number(bitsText);
  if (bits < 0 || bits > width) return undefined;
  const all = (1n << BigInt(width)) - 1n;
  const mask = bits === 0 ? 0n : (all << BigInt(width - bits)) & all;
  return { family: ip.family, base: ip.value & mask, mask };
}

export function inRanges(addr: string | undefined, ranges: readonly Cidr[]): boolean {
  if (!addr) return false;
  const ip = parseIp(addr);
  if (!ip) return false;
  return ranges.some((r) => r.family === ip.family && (ip.value & r.mask) === r.base);
}
