/** @module valibot schemas of the /keys request bodies, and the one mapping of their issues to 400. */
import * as v from "valibot";
import { badRequest } from "../errors.ts";
import type { GenerateRequest, KeyUse } from "./types.ts";

/** POST /keys/{set}: Hydra's JsonWebKeySetGeneratorRequest plus Gatehouse's optional RSA `bits`. */
export const GenerateBody = v.object({
  alg: v.pipe(v.string("alg must be a string"), v.nonEmpty("alg is required")),
  kid: v.optional(v.string("kid must be a string"), ""),
  // "" as Hydra's SDK sends an unset field; it means sig.
  use: v.optional(v.picklist(["sig", "enc", ""], 'use must be "sig" or "enc"'), ""),
  bits: v.optional(v.pipe(v.number("bits must be a number"), v.integer("bits must be an integer"))),
});

/** PUT /keys/{set}: a JWK Set (RFC 7517 §5); each key is checked by keystore.validateJwk. */
export const JwkSetBody = v.object({
  keys: v.array(v.unknown(), "keys must be an array of JSON Web Keys"),
});

export function parseBody<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  // valibot's object() takes arrays for objects.
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw badRequest("Invalid request body: a JSON object was expected.");
  const parsed = v.safeParse(schema, input);
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  const path = v.getDotPath(issue);
  // A missing key is reported by the enclosing object schema, in valibot's own words.
  if (issue.type === "object" && issue.input === undefined && path) throw badRequest(`Invalid request body: ${path} is required.`);
  throw badRequest(`Invalid request body: ${path ? `${path}: ` : ""}${issue.message}.`);
}

export function toGenerateRequest(body: v.InferOutput<typeof GenerateBody>): GenerateRequest {
  return { alg: body.alg, kid: body.kid, use: (body.use || "sig") as KeyUse, bits: body.bits };
}
