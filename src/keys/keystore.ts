/**
 * @module Key material with jose: generation (POST /keys/{set}), validation of imported
 * JWKs (PUT), the public part of a key (what jwks.json may show), and PEM → JWK for the CLI.
 * Hydra v1 kid convention: a generated pair is `private:<kid>` + `public:<kid>`.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { CompactSign, compactVerify, exportJWK, generateKeyPair, generateSecret, importJWK, type JWK } from "jose";
import { badRequest } from "../errors.ts";
import type { GenerateRequest, Jwk, KeyUse } from "./types.ts";

type Kty = "RSA" | "EC" | "OKP" | "oct";

interface AlgSpec {
  kty: readonly Kty[];
  /** Allowed curves (EC, OKP). */
  crv?: readonly string[];
  /** What the algorithm is for (RFC 7518 §3.1 vs §4.1). */
  purpose: KeyUse;
  /** Symmetric key length in bytes: at least (HS*, RFC 7518 §3.2) or exactly (AES key wrap). */
  octBytes?: { min: number } | { exact: number };
}

const rsaSig: AlgSpec = { kty: ["RSA"], purpose: "sig" };
const rsaEnc: AlgSpec = { kty: ["RSA"], purpose: "enc" };
const ecdhEs: AlgSpec = { kty: ["EC", "OKP"], crv: ["P-256", "P-384", "P-521", "X25519"], purpose: "enc" };

/** Every algorithm a stored key may carry (RFC 7518); anything else is refused. */
const algorithms: Record<string, AlgSpec> = {
  RS256: rsaSig,
  RS384: rsaSig,
  RS512: rsaSig,
  PS256: rsaSig,
  PS384: rsaSig,
  PS512: rsaSig,
  ES256: { kty: ["EC"], crv: ["P-256"], purpose: "sig" },
  ES384: { kty: ["EC"], crv: ["P-384"], purpose: "sig" },
  ES512: { kty: ["EC"], crv: ["P-521"], purpose: "sig" },
  EdDSA: { kty: ["OKP"], crv: ["Ed25519"], purpose: "sig" },
  HS256: { kty: ["oct"], purpose: "sig", octBytes: { min: 32 } },
  HS384: { kty: ["oct"], purpose: "sig", octBytes: { min: 48 } },
  HS512: { kty: ["oct"], purpose: "sig", octBytes: { min: 64 } },
  "RSA-OAEP": rsaEnc,
  "RSA-OAEP-256": rsaEnc,
  "RSA-OAEP-384": rsaEnc,
  "RSA-OAEP-512": rsaEnc,
  "ECDH-ES": ecdhEs,
  "ECDH-ES+A128KW": ecdhEs,
  "ECDH-ES+A192KW": ecdhEs,
  "ECDH-ES+A256KW": ecdhEs,
  A128KW: { kty: ["oct"], purpose: "enc", octBytes: { exact: 16 } },
  A192KW: { kty: ["oct"], purpose: "enc", octBytes: { exact: 24 } },
  A256KW: { kty: ["oct"], purpose: "enc", octBytes: { exact: 32 } },
  A128GCMKW: { kty: ["oct"], purpose: "enc", octBytes: { exact: 16 } },
  A192GCMKW: { kty: ["oct"], purpose: "enc", octBytes: { exact: 24 } },
  A256GCMKW: { kty: ["oct"], purpose: "enc", octBytes: { exact: 32 } },
};

/** What POST /keys/{set} can generate. */
export const generationAlgs = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"] as const;
export const rsaSizes = [2048, 3072, 4096] as const;
export const defaultRsaBits = 2048;

const symmetricSigAlgs = new Set(["HS256", "HS384", "HS512"]);

/** An algorithm that signs with a private key and verifies with a published public key. */
export function isAsymmetricSigningAlg(alg: string): boolean {
  return algorithms[alg]?.purpose === "sig" && !symmetricSigAlgs.has(alg);
}

export function isRsaAlg(alg: string): boolean {
  return /^(RS|PS)(256|384|512)$/.test(alg);
}

/** The kid a private key's public counterpart carries: `private:x` → `public:x`, others unchanged. */
export function publicKid(kid: string): string {
  return kid.startsWith("private:") ? `public:${kid.slice("private:".length)}` : kid;
}

/** Holds private or secret material (RFC 7517 §9.2): RSA/EC/OKP `d`, or any symmetric key. */
export function isSecretJwk(jwk: JWK): boolean {
  return jwk.kty === "oct" || jwk.d !== undefined;
}

/** go-jose's member order, so our JSON reads like Hydra's. */
const memberOrder = ["use", "kty", "kid", "crv", "alg", "k", "x", "y", "n", "e", "d", "p", "q", "dp", "dq", "qi", "key_ops", "x5c", "x5u", "x5t", "x5t#S256"] as const;

const publicMembers: Record<Kty, readonly string[]> = {
  RSA: ["n", "e"],
  EC: ["crv", "x", "y"],
  OKP: ["crv", "x"],
  oct: [],
};
const privateMembers: Record<Kty, readonly string[]> = {
  RSA: ["d", "p", "q", "dp", "dq", "qi"],
  EC: ["d"],
  OKP: ["d"],
  oct: ["k"],
};
const certificateMembers = ["x5c", "x5u", "x5t", "x5t#S256"] as const;

/** The JWK with its members in go-jose's order (jsonb does not keep order). */
export function ordered(jwk: Record<string, unknown>): Jwk {
  const out: Record<string, unknown> = {};
  for (const k of memberOrder) if (jwk[k] !== undefined) out[k] = jwk[k];
  return out as Jwk;
}

/**
 * The public part of an asymmetric key, built from an allow-list of members so that
 * no private member can ever slip through; undefined for symmetric keys, which are never published.
 */
export function publicPart(jwk: Jwk, kid = publicKid(jwk.kid)): Jwk | undefined {
  const kty = jwk.kty as Kty;
  if (kty === "oct" || !publicMembers[kty]) return undefined;
  const out: Record<string, unknown> = { kty, kid, alg: jwk.alg, use: jwk.use };
  const source = jwk as Record<string, unknown>;
  for (const k of [...publicMembers[kty], ...certificateMembers]) if (source[k] !== undefined) out[k] = source[k];
  return ordered(out);
}

const maxKidLength = 255;

function checkKid(kid: string, what: string) {
  if (kid.length > maxKidLength) throw badRequest(`${what}: kid must be at most ${maxKidLength} characters, got ${kid.length}.`);
  if (/[\u0000-\u001f\u007f]/.test(kid)) throw badRequest(`${what}: kid must not contain control characters.`);
}

/** Generates what POST /keys/{set} adds: a private:/public: pair, or one symmetric key. */
export async function generateKeys(req: GenerateRequest): Promise<Jwk[]> {
  if (!(generationAlgs as readonly string[]).includes(req.alg)) {
    throw badRequest(`alg "${req.alg}" cannot be generated; supported: ${generationAlgs.join(", ")}.`);
  }
  checkKid(req.kid, "the key to generate");
  const rsa = isRsaAlg(req.alg);
  if (req.bits !== undefined && !rsa) throw badRequest(`bits applies to RSA keys (RS*, PS*) only, not to ${req.alg}.`);
  const bits = req.bits ?? defaultRsaBits;
  if (rsa && !(rsaSizes as readonly number[]).includes(bits)) {
    throw badRequest(`bits must be one of ${rsaSizes.join(", ")} for ${req.alg}, got ${bits}.`);
  }
  const kid = req.kid || crypto.randomUUID();
  if (symmetricSigAlgs.has(req.alg)) {
    const secret = await generateSecret(req.alg, { extractable: true });
    return [ordered({ ...(await exportJWK(secret)), kid, alg: req.alg, use: req.use })];
  }
  const pair = await generateKeyPair(req.alg, {
    extractable: true,
    ...(rsa ? { modulusLength: bits } : {}),
    ...(req.alg === "EdDSA" ? { crv: "Ed25519" } : {}),
  });
  const privateJwk = ordered({ ...(await exportJWK(pair.privateKey)), kid: `private:${kid}`, alg: req.alg, use: req.use });
  return [privateJwk, publicPart(privateJwk, `public:${kid}`)!];
}

/** RFC 7518 defaults when an imported JWK has no alg (signature keys only). */
function inferAlg(jwk: Record<string, unknown>, use: KeyUse | undefined): string | undefined {
  if (use === "enc") return undefined;
  switch (jwk.kty) {
    case "RSA":
      return "RS256";
    case "EC":
      return ({ "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" } as Record<string, string>)[String(jwk.crv)];
    case "OKP":
      return jwk.crv === "Ed25519" ? "EdDSA" : undefined;
    case "oct":
      return "HS256";
  }
  return undefined;
}

const base64url = /^[A-Za-z0-9_-]+$/;

function byteLength(b64u: string): number {
  return Buffer.from(b64u, "base64url").length;
}

/** Bit length of an RSA modulus (leading zero bytes do not count). */
function modulusBits(n: string): number {
  const bytes = Buffer.from(n, "base64url");
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  return i === bytes.length ? 0 : (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

/**
 * Checks a JWK given to PUT /keys/… (or read by `keys import`) and returns it as stored:
 * kid required (or `fallbackKid`), use defaulting to sig, alg inferred for signature keys,
 * only RFC 7517/7518 members kept. The key must import into WebCrypto, and a private
 * signing key must verify its own signature, so that a mismatched pair is refused here
 * and not at the first token.
 */
export async function validateJwk(input: unknown, fallbackKid?: string): Promise<Jwk> {
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw badRequest("A JSON Web Key must be a JSON object.");
  const raw = input as Record<string, unknown>;
  const kid = raw.kid === undefined || raw.kid === "" ? fallbackKid : raw.kid;
  if (typeof kid !== "string" || kid === "") throw badRequest('The JSON Web Key has no "kid".');
  const what = `JWK "${kid}"`;
  checkKid(kid, what);
  const kty = raw.kty;
  if (kty !== "RSA" && kty !== "EC" && kty !== "OKP" && kty !== "oct") {
    throw badRequest(`${what}: kty must be one of RSA, EC, OKP, oct; got ${JSON.stringify(kty ?? null)}.`);
  }
  if (raw.use !== undefined && raw.use !== "sig" && raw.use !== "enc") {
    throw badRequest(`${what}: use must be "sig" or "enc", got ${JSON.stringify(raw.use)}.`);
  }
  const use = (raw.use as KeyUse | undefined) ?? (typeof raw.alg === "string" && algorithms[raw.alg]?.purpose === "enc" ? "enc" : "sig");
  const alg = raw.alg === undefined || raw.alg === "" ? inferAlg(raw, raw.use as KeyUse | undefined) : raw.alg;
  if (typeof alg !== "string") throw badRequest(`${what}: alg is required for this key (it cannot be inferred from kty ${kty}${raw.crv ? ` and crv ${raw.crv}` : ""}).`);
  const spec = algorithms[alg];
  if (!spec) throw badRequest(`${what}: unsupported alg "${alg}"; supported: ${Object.keys(algorithms).join(", ")}.`);
  if (!spec.kty.includes(kty)) throw badRequest(`${what}: alg ${alg} needs kty ${spec.kty.join(" or ")}, got ${kty}.`);
  if (raw.oth !== undefined) throw badRequest(`${what}: multi-prime RSA keys ("oth") are not supported.`);

  const secret = kty === "oct" || raw.d !== undefined;
  const required = [...publicMembers[kty], ...(secret ? privateMembers[kty] : [])];
  const out: Record<string, unknown> = { kty, kid, alg, use };
  for (const member of required) {
    const value = raw[member];
    if (typeof value !== "string" || value === "") throw badRequest(`${what}: member "${member}" is required for a ${secret && kty !== "oct" ? "private " : ""}${kty} key.`);
    if (member !== "crv" && !base64url.test(value)) throw badRequest(`${what}: member "${member}" must be base64url without padding.`);
    out[member] = value;
  }
  if (spec.crv && !spec.crv.includes(String(raw.crv))) throw badRequest(`${what}: alg ${alg} needs crv ${spec.crv.join(" or ")}, got ${JSON.stringify(raw.crv ?? null)}.`);
  if (kty === "RSA") {
    const bits = modulusBits(String(raw.n));
    // RFC 7518 §3.3 and §4.2: 2048 bits or larger.
    if (bits < 2048) throw badRequest(`${what}: RSA keys must be at least 2048 bits, got ${bits}.`);
  }
  if (spec.octBytes) {
    const length = byteLength(String(raw.k));
    if ("min" in spec.octBytes && length < spec.octBytes.min) throw badRequest(`${what}: ${alg} needs a key of at least ${spec.octBytes.min} bytes, got ${length}.`);
    if ("exact" in spec.octBytes && length !== spec.octBytes.exact) throw badRequest(`${what}: ${alg} needs a key of exactly ${spec.octBytes.exact} bytes, got ${length}.`);
  }
  if (raw.key_ops !== undefined) {
    if (!Array.isArray(raw.key_ops) || raw.key_ops.some((op) => typeof op !== "string")) throw badRequest(`${what}: key_ops must be an array of strings.`);
    out.key_ops = raw.key_ops;
  }
  if (raw.x5c !== undefined) {
    if (!Array.isArray(raw.x5c) || raw.x5c.some((c) => typeof c !== "string" || !/^[A-Za-z0-9+/]+=*$/.test(c))) {
      throw badRequest(`${what}: x5c must be an array of base64 DER certificates.`);
    }
    out.x5c = raw.x5c;
  }
  for (const member of ["x5u", "x5t", "x5t#S256"] as const) {
    if (raw[member] === undefined) continue;
    if (typeof raw[member] !== "string") throw badRequest(`${what}: ${member} must be a string.`);
    out[member] = raw[member];
  }
  const jwk = ordered(out);
  await checkUsable(jwk, spec, what);
  return jwk;
}

async function checkUsable(jwk: Jwk, spec: AlgSpec, what: string) {
  const bare = { ...jwk, key_ops: undefined, use: undefined };
  let key: CryptoKey | Uint8Array;
  try {
    key = await importJWK(bare, jwk.alg);
  } catch (err) {
    throw badRequest(`${what}: the key cannot be used with ${jwk.alg}: ${(err as Error).message}`);
  }
  if (jwk.kty === "RSA" && jwk.d !== undefined && !rsaMembersAgree(jwk)) {
    throw badRequest(`${what}: the private and public members do not form one key pair (n, d and the CRT members disagree).`);
  }
  if (spec.purpose !== "sig" || jwk.kty === "oct" || jwk.d === undefined) return;
  // A private key whose members do not form one key pair would sign tokens nobody can verify.
  try {
    const probe = await new CompactSign(new TextEncoder().encode("gatehouse key check")).setProtectedHeader({ alg: jwk.alg }).sign(key);
    await compactVerify(probe, await importJWK(publicPart(jwk)!, jwk.alg));
  } catch (err) {
    throw badRequest(`${what}: the private and public members do not form one key pair (${(err as Error).message}).`);
  }
}

function bigintOf(b64u: string): bigint {
  const hex = Buffer.from(b64u, "base64url").toString("hex");
  return hex === "" ? 0n : BigInt(`0x${hex}`);
}

/**
 * WebCrypto signs with the CRT members (p, q, dp, dq, qi) and ignores d, so a JWK whose d
 * belongs to another key would sign fine here and fail in every library that uses d.
 */
function rsaMembersAgree(jwk: Jwk): boolean {
  const [n, e, d, p, q, dp, dq, qi] = [jwk.n, jwk.e, jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi].map((m) => bigintOf(m ?? ""));
  if (p! <= 1n || q! <= 1n) return false;
  return n === p! * q! && d! % (p! - 1n) === dp && d! % (q! - 1n) === dq && (qi! * q!) % p! === 1n && (e! * dp!) % (p! - 1n) === 1n;
}

/** The signature algorithm a PEM key is used with when the caller names none. */
function algOfKeyObject(key: KeyObject): string {
  const type = key.asymmetricKeyType;
  if (type === "rsa") return "RS256";
  if (type === "rsa-pss") return "PS256";
  if (type === "ed25519") return "EdDSA";
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const alg = ({ prime256v1: "ES256", secp384r1: "ES384", secp521r1: "ES512" } as Record<string, string>)[curve ?? ""];
    if (alg) return alg;
    throw new Error(`unsupported EC curve ${curve}`);
  }
  throw new Error(`unsupported key type ${type}`);
}

export interface PemImport {
  /** The private key (kid `private:<id>`) if the PEM held one, and always the public key (`public:<id>`). */
  keys: Jwk[];
}

/**
 * PEM (PKCS#8, PKCS#1, SEC1 private keys; SPKI public keys; X.509 certificates) to JWKs,
 * named with Hydra's `private:`/`public:` kids. node:crypto parses PEM, because jose
 * reads only PKCS#8/SPKI/X.509 and needs the algorithm up front; jose then validates.
 */
export async function pemToJwks(pem: string, id: string, use: KeyUse, alg?: string): Promise<PemImport> {
  let privateKey: KeyObject | undefined;
  let publicKey: KeyObject;
  if (/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(pem)) {
    privateKey = createPrivateKey(pem);
    publicKey = createPublicKey(privateKey);
  } else {
    publicKey = createPublicKey(pem);
  }
  const chosenAlg = alg ?? algOfKeyObject(publicKey);
  const keys: Jwk[] = [];
  if (privateKey) {
    keys.push(await validateJwk({ ...(privateKey.export({ format: "jwk" }) as JWK), kid: `private:${id}`, alg: chosenAlg, use }));
  }
  keys.push(await validateJwk({ ...(publicKey.export({ format: "jwk" }) as JWK), kid: `public:${id}`, alg: chosenAlg, use }));
  return { keys };
}
