/**
 * @module Challenges, verifiers and CSRF values of the login/consent flow: 128 random bits
 * as 32 hex characters (the shape of Hydra's dash-less UUIDs, which login apps may expect;
 * logout challenges and verifiers are UUIDs with dashes, as Hydra's),
 * stored only as HMAC signatures under secrets.system; challenges are also sealed because
 * the admin API shows them again once they are spent.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Config } from "../config/schema.ts";
import { hmac, seal, unseal } from "../lib/crypto.ts";

export type FlowSecretKind =
  | "login_challenge"
  | "login_verifier"
  | "login_csrf"
  | "consent_challenge"
  | "consent_verifier"
  | "consent_csrf"
  | "logout_challenge"
  | "logout_verifier";

type SecretsConfig = Pick<Config, "secrets">;

export function randomFlowValue(): string {
  return randomBytes(16).toString("hex");
}

/** The signature stored for a value under the newest secret. */
export function flowSignature(config: SecretsConfig, kind: FlowSecretKind, value: string): string {
  return hmac(config.secrets.system[0]!, `flow:${kind}`, value);
}

/**
 * Every signature the value may be stored under (one per listed secret), so that a flow
 * begun before a secrets.system rotation still finishes after it.
 */
export function flowSignatures(config: SecretsConfig, kind: FlowSecretKind, value: string): string[] {
  return [...new Set(config.secrets.system.map((s) => hmac(s, `flow:${kind}`, value)))];
}

const sealPurpose = "flow-challenge";

export function sealFlowValue(config: SecretsConfig, value: string): string {
  return seal(config.secrets.system, value, sealPurpose);
}

export function unsealFlowValue(config: SecretsConfig, sealed: string): string {
  return unseal(config.secrets.system, sealed, sealPurpose);
}

/** A logout challenge or verifier: a random UUID with dashes, as Hydra's, and its signature. */
export function newLogoutValue(config: SecretsConfig, kind: "logout_challenge" | "logout_verifier"): { value: string; signature: string } {
  const value = randomUUID();
  return { value, signature: flowSignature(config, kind, value) };
}

/** A new value with its signature (and sealed copy, for the kinds shown again later). */
export function newFlowValue(config: SecretsConfig, kind: FlowSecretKind): { value: string; signature: string; sealed: string } {
  const value = randomFlowValue();
  return { value, signature: flowSignature(config, kind, value), sealed: sealFlowValue(config, value) };
}
