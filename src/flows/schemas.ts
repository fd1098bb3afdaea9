/**
 * @module Bodies of the admin login/consent endpoints (Hydra consent/types.go):
 * HandledLoginRequest, HandledConsentRequest and RequestDeniedError. Unknown fields are
 * refused with 400, as Hydra's DisallowUnknownFields decoder; a missing field takes Go's
 * zero value.
 */
import * as v from "valibot";
import { invalidRequest } from "../errors.ts";
import { containsNul, jsonDepth, maxJsonDepth, wellFormedJson } from "../server/http.ts";
import type { AcceptConsentInput, AcceptLoginInput, DeniedError } from "./flow.ts";

const optionalString = v.optional(v.string(), "");
const optionalBool = v.optional(v.boolean(), false);
/** Seconds; Go's int, never negative here, and at most what the integer column holds (else a 500 at store time). */
const seconds = v.optional(v.pipe(v.number(), v.integer("must be an integer"), v.minValue(0, "must not be negative"), v.maxValue(2 ** 31 - 1, "must be at most 2147483647")), 0);
const stringList = v.optional(v.nullable(v.array(v.string())), null);
const claimObject = v.optional(v.nullable(v.record(v.string(), v.unknown())), null);

const acceptLoginSchema = v.strictObject({
  subject: optionalString,
  remember: optionalBool,
  remember_for: seconds,
  acr: optionalString,
  amr: stringList,
  context: v.optional(v.unknown()),
  force_subject_identifier: optionalString,
});

const acceptConsentSchema = v.strictObject({
  grant_scope: stringList,
  grant_access_token_audience: stringList,
  remember: optionalBool,
  remember_for: seconds,
  session: v.optional(v.nullable(v.strictObject({ access_token: claimObject, id_token: claimObject })), null),
  // Hydra overwrites it with the time of the call.
  handled_at: v.optional(v.unknown()),
});

const rejectSchema = v.strictObject({
  error: optionalString,
  error_description: optionalString,
  error_hint: optionalString,
  status_code: v.optional(v.pipe(v.number(), v.integer("must be an integer")), 0),
  error_debug: optionalString,
});

/** Go's json.Decoder error text, close enough for a caller to find the field. */
function describe(issue: v.BaseIssue<unknown>): string {
  const path = issue.path?.map((p) => String(p.key)).join(".");
  if (issue.type === "strict_object" && path) return `json: unknown field "${path}"`;
  if (issue.received === "undefined") return `json: field "${path}" is required`;
  return path ? `json: field "${path}": ${issue.message}` : issue.message;
}

/** Reads the JSON body; Hydra answers 400 invalid_request "Unable to decode body because: …". */
async function decode<T extends v.GenericSchema>(req: Request, schema: T): Promise<v.InferOutput<T>> {
  const text = await req.text();
  if (jsonDepth(text) > maxJsonDepth) throw invalidRequest(undefined, { hint: `Unable to decode body because: it is nested deeper than ${maxJsonDepth} levels` });
  let body: unknown;
  try {
    if (text.trim() === "") throw new Error("EOF");
    body = wellFormedJson(JSON.parse(text));
  } catch (err) {
    throw invalidRequest(undefined, { hint: `Unable to decode body because: ${(err as Error).message}` });
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest(undefined, { hint: "Unable to decode body because: the body must be a JSON object" });
  }
  // PostgreSQL cannot store a NUL (context, session and subject are kept): bad input, not a 500.
  if (containsNul(body)) throw invalidRequest(undefined, { hint: "Unable to decode body because: it contains a NUL character" });
  const result = v.safeParse(schema, body, { abortPipeEarly: true });
  if (!result.success) throw invalidRequest(undefined, { hint: `Unable to decode body because: ${describe(result.issues[0])}` });
  return result.output;
}

export async function readAcceptLogin(req: Request): Promise<AcceptLoginInput> {
  const b = await decode(req, acceptLoginSchema);
  return {
    subject: b.subject,
    remember: b.remember,
    rememberFor: b.remember_for,
    acr: b.acr,
    amr: b.amr ?? [],
    context: b.context ?? undefined,
    forceSubjectIdentifier: b.force_subject_identifier,
  };
}

export async function readAcceptConsent(req: Request): Promise<AcceptConsentInput> {
  const b = await decode(req, acceptConsentSchema);
  return {
    grantScope: [...new Set(b.grant_scope ?? [])],
    grantAudience: [...new Set(b.grant_access_token_audience ?? [])],
    remember: b.remember,
    rememberFor: b.remember_for,
    session: { access_token: b.session?.access_token ?? {}, id_token: b.session?.id_token ?? {} },
  };
}

export async function readReject(req: Request): Promise<Partial<DeniedError>> {
  return decode(req, rejectSchema);
}
