/**
 * @module RSA PKCS#1 v1.5 signatures (RS256, RS384, RS512) computed by the system's OpenSSL 3
 * libcrypto through bun:ffi. Bun's own crypto (BoringSSL, behind node:crypto and WebCrypto)
 * needs ~0.58 ms of CPU for an RSA-2048 signature on our benchmark machine, OpenSSL 3 ~0.25 ms,
 * and every ID token, JWT access token and signed userinfo pays it. Optional by design:
 * when the library is missing, too old, or any call fails, createRsaSigner returns undefined
 * (or a signer returns undefined) and callers sign with jose as before.
 *
 * PKCS#1 v1.5 is deterministic, so both paths produce byte-identical signatures
 * (test/keys/openssl-rsa.test.ts checks that). Only keys from our own JWK store reach
 * this module; key bytes never appear in logs or errors.
 */
import { dlopen, FFIType, ptr, type Pointer } from "bun:ffi";
import { createPrivateKey, type JsonWebKeyInput } from "node:crypto";
import type { JWK } from "jose";
import type { Logger } from "../lib/log.ts";

/** Debian/Ubuntu/RHEL name of OpenSSL 3's libcrypto first; the unversioned dev symlink second. */
const libraryNames = ["libcrypto.so.3", "libcrypto.so"];

/** The minimal binding, each call with why it is needed. All are OpenSSL 3.0 API. */
const symbols = {
  // Version gate: EVP_PKEY_get_size and EVP_PKEY_CTX_set_rsa_padding are functions only since 3.0.
  OpenSSL_version_num: { args: [], returns: FFIType.u64 },
  // PKCS#8 DER -> EVP_PKEY, once per loaded key. Advances the pointer it is given (char **).
  d2i_AutoPrivateKey: { args: [FFIType.ptr, FFIType.ptr, FFIType.i64], returns: FFIType.ptr },
  // jose refuses RSA keys under 2048 bits; we leave those to jose so its error stays the same.
  EVP_PKEY_get_bits: { args: [FFIType.ptr], returns: FFIType.i32 },
  // Signature length (the modulus size in bytes): sizes the output buffer.
  EVP_PKEY_get_size: { args: [FFIType.ptr], returns: FFIType.i32 },
  EVP_PKEY_free: { args: [FFIType.ptr], returns: FFIType.void },
  // One signing context per key, initialised once and reused for every signature
  // (EVP_PKEY_sign(3): "can be called more than once on the same context").
  EVP_PKEY_CTX_new: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.ptr },
  EVP_PKEY_CTX_free: { args: [FFIType.ptr], returns: FFIType.void },
  EVP_PKEY_sign_init: { args: [FFIType.ptr], returns: FFIType.i32 },
  // RSASSA-PKCS1-v1_5 (RFC 7518 §3.3), with the DigestInfo of the given hash.
  EVP_PKEY_CTX_set_rsa_padding: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  EVP_PKEY_CTX_set_signature_md: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_sha256: { args: [], returns: FFIType.ptr },
  EVP_sha384: { args: [], returns: FFIType.ptr },
  EVP_sha512: { args: [], returns: FFIType.ptr },
  // Signs a digest we computed with Bun (one FFI call per signature; measured as cheap as
  // EVP_DigestSign on a copied context, and it allocates nothing on OpenSSL's side).
  EVP_PKEY_sign: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
  // A failed call leaves entries on OpenSSL's per-thread error queue; drop them.
  ERR_clear_error: { args: [], returns: FFIType.void },
} as const;

type Library = ReturnType<typeof dlopen<typeof symbols>>["symbols"];

const RSA_PKCS1_PADDING = 1;
const openSsl3 = 0x30000000;
const minModulusBits = 2048;

export type RsaPkcs1Alg = "RS256" | "RS384" | "RS512";

const hashes = {
  RS256: { bun: "sha256", md: "EVP_sha256" },
  RS384: { bun: "sha384", md: "EVP_sha384" },
  RS512: { bun: "sha512", md: "EVP_sha512" },
} as const;

export function isRsaPkcs1Alg(alg: string): alg is RsaPkcs1Alg {
  return Object.hasOwn(hashes, alg);
}

export interface RsaSigner {
  readonly alg: RsaPkcs1Alg;
  /**
   * The RSASSA-PKCS1-v1_5 signature of the UTF-8 bytes of `signingInput`, or undefined when
   * OpenSSL failed (then it is switched off for the process; sign with jose instead).
   */
  sign(signingInput: string): Uint8Array | undefined;
}

interface Native {
  pkey: Pointer;
  ctx: Pointer;
}

interface Loaded {
  lib: Library;
  /** Frees a key's EVP_PKEY and context once its signer is unreachable: a cached signing key
   * is replaced every few seconds while requests may still hold the old one. */
  natives: FinalizationRegistry<Native>;
}

/**
 * The loaded library: process-wide by nature (dlopen), so a module-level memo rather than a
 * per-Deps value. undefined = not tried yet, false = not available (said once).
 */
let loaded: Loaded | false | undefined;

function load(log: Logger | undefined): Loaded | false {
  if (loaded !== undefined) return loaded;
  const reasons: string[] = [];
  for (const name of libraryNames) {
    try {
      const opened = dlopen(name, symbols);
      const lib = opened.symbols;
      const version = Number(lib.OpenSSL_version_num());
      if (version < openSsl3) {
        opened.close();
        reasons.push(`${name} is OpenSSL 0x${version.toString(16)}, not 3.x`);
        continue;
      }
      const natives = new FinalizationRegistry<Native>(({ pkey, ctx }) => {
        lib.EVP_PKEY_CTX_free(ctx);
        lib.EVP_PKEY_free(pkey);
      });
      log?.withTag("keys").debug(`RSA signatures (RS256/384/512) via ${name} (OpenSSL 0x${version.toString(16)})`);
      loaded = { lib, natives };
      return loaded;
    } catch (error) {
      // dlopen's message names the library or the missing symbol, nothing else.
      reasons.push(error instanceof Error ? error.message : String(error));
    }
  }
  disable(log, reasons.join("; "));
  return false;
}

function disable(log: Logger | undefined, reason: string): void {
  if (loaded === false) return;
  loaded = false;
  log?.withTag("keys").info(`OpenSSL 3 not available for RSA signatures, using jose (WebCrypto) instead: ${reason}`);
}

/**
 * A signer for one private RSA JWK (from our key store), or undefined when OpenSSL 3 is not
 * available or refuses the key. Call once per loaded key, never per signature.
 */
export function createRsaSigner(jwk: JWK, alg: RsaPkcs1Alg, log?: Logger): RsaSigner | undefined {
  const state = load(log);
  if (!state) return undefined;
  const { lib } = state;
  let der: Buffer | undefined;
  let pkey: Pointer | null = null;
  let ctx: Pointer | null = null;
  try {
    der = createPrivateKey({ key: jwk, format: "jwk" } as JsonWebKeyInput).export({ type: "pkcs8", format: "der" });
    // d2i_* reads through (and advances) a `const unsigned char **`: a one-slot pointer array.
    // `der` stays referenced until the finally block, so its address is valid during the call.
    const cursor = new BigUint64Array([BigInt(ptr(der))]);
    pkey = lib.d2i_AutoPrivateKey(null, cursor, der.length) as Pointer | null; // bun-types: ptr returns may be typed bigint
    if (!pkey) return failed(log, "cannot read the key");
    if (lib.EVP_PKEY_get_bits(pkey) < minModulusBits) {
      // Not an OpenSSL failure: jose rejects such keys with its own error.
      lib.EVP_PKEY_free(pkey);
      return undefined;
    }
    ctx = lib.EVP_PKEY_CTX_new(pkey, null) as Pointer | null;
    if (
      !ctx ||
      lib.EVP_PKEY_sign_init(ctx) <= 0 ||
      lib.EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
      lib.EVP_PKEY_CTX_set_signature_md(ctx, lib[hashes[alg].md]()) <= 0
    ) {
      if (ctx) lib.EVP_PKEY_CTX_free(ctx);
      lib.EVP_PKEY_free(pkey);
      return failed(log, "cannot prepare the signing context");
    }
  } catch (error) {
    if (pkey) lib.EVP_PKEY_free(pkey);
    return failed(log, error instanceof Error ? error.name : "error");
  } finally {
    der?.fill(0);
  }
  const signer = makeSigner(state, log, pkey, ctx, alg);
  state.natives.register(signer, { pkey, ctx });
  return signer;
}

function makeSigner(state: Loaded, log: Logger | undefined, pkey: Pointer, ctx: Pointer, alg: RsaPkcs1Alg): RsaSigner {
  const { lib } = state;
  const size = lib.EVP_PKEY_get_size(pkey);
  // Owned by this signer; Bun passes a typed array to a ptr argument as its address, and the
  // array is alive for the whole (synchronous) call.
  const out = new Uint8Array(size);
  const outLen = new BigUint64Array(1);
  const hash = hashes[alg].bun;
  return {
    alg,
    sign(signingInput: string): Uint8Array | undefined {
      // A failure elsewhere switched OpenSSL off: stop using it everywhere, not only for that key.
      if (loaded !== state) return undefined;
      const digest = Bun.CryptoHasher.hash(hash, signingInput) as Uint8Array;
      outLen[0] = BigInt(size); // in: buffer capacity; out: signature length
      if (lib.EVP_PKEY_sign(ctx, out, outLen, digest, digest.length) <= 0 || outLen[0] !== BigInt(size)) {
        failed(log, "EVP_PKEY_sign failed");
        return undefined;
      }
      return out.slice();
    },
  };
}

function failed(log: Logger | undefined, reason: string): undefined {
  if (loaded) loaded.lib.ERR_clear_error();
  disable(log, reason);
  return undefined;
}

