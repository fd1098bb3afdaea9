/** The flow state machine's pure transitions (src/flows/flow.ts): what each allows and refuses. */
import { describe, expect, test } from "bun:test";
import { OAuthError } from "../../src/errors.ts";
import {
  acceptConsent,
  acceptFreshLogin,
  acceptLogin,
  completeConsent,
  consentAccepted,
  consentRejected,
  deniedError,
  deniedToOAuthError,
  failFlow,
  flowStates,
  rejectConsent,
  rejectLogin,
  requestConsent,
  type Flow,
} from "../../src/flows/flow.ts";

const now = new Date("2030-01-01T10:00:00.750Z");

function flow(overrides: Partial<Flow> = {}): Flow {
  return {
    id: "f",
    state: "login_requested",
    clientId: "c",
    subject: "",
    loginSessionId: "sid",
    requestedAt: new Date("2030-01-01T09:59:00Z"),
    request: {} as Flow["request"],
    loginChallenge: "lc",
    loginChallengeSealed: "s",
    loginCsrf: "csrf",
    loginVerifier: undefined,
    loginSkip: false,
    authenticatedAt: undefined,
    login: undefined,
    consentChallenge: undefined,
    consentChallengeSealed: undefined,
    consentCsrf: undefined,
    consentVerifier: undefined,
    consentVerifierSealed: undefined,
    consentSkip: false,
    consent: undefined,
    consentHandledAt: undefined,
    subjectIdentifier: undefined,
    requestId: undefined,
    ...overrides,
  };
}

const login = { subject: "alice", remember: false, rememberFor: 0, acr: "", amr: [], context: undefined, forceSubjectIdentifier: "" };
const grant = { grantScope: ["openid"], grantAudience: [], remember: false, rememberFor: 0, session: { access_token: {}, id_token: {} } };
const verifier = { signature: "v", sealed: "sv" };

function status(fn: () => unknown): number | "ok" {
  try {
    fn();
    return "ok";
  } catch (err) {
    return err instanceof OAuthError ? err.status : -1;
  }
}

describe("login", () => {
  test("accept: sets the subject, the verifier and an auth time truncated to the second", () => {
    const next = acceptLogin(flow(), login, "lv", now);
    expect(next.state).toBe("login_accepted");
    expect(next.subject).toBe("alice");
    expect(next.loginVerifier).toBe("lv");
    expect(next.authenticatedAt).toEqual(new Date("2030-01-01T10:00:00Z"));
  });

  test("a skipped login keeps its auth time, stays remembered, and only takes the same subject", () => {
    const old = new Date("2029-12-31T00:00:00Z");
    const skipped = flow({ loginSkip: true, subject: "alice", authenticatedAt: old });
    const next = acceptLogin(skipped, { ...login, remember: false }, "lv", now);
    expect(next.authenticatedAt).toEqual(old);
    expect(next.login).toEqual({ accepted: expect.objectContaining({ remember: true, authenticatedAt: old.toISOString() }) });
    expect(status(() => acceptLogin(skipped, { ...login, subject: "bob" }, "lv", now))).toBe(400);
  });

  test("a login is answered once: accept or reject after an answer is 409", () => {
    for (const state of flowStates.filter((s) => s !== "login_requested")) {
      expect(status(() => acceptLogin(flow({ state }), login, "lv", now))).toBe(409);
      expect(status(() => rejectLogin(flow({ state }), deniedError({}, "login request denied"), "lv"))).toBe(409);
    }
    expect(rejectLogin(flow(), deniedError({}, "login request denied"), "lv").state).toBe("login_rejected");
  });

  test("a fresh login's answer (applied without reading the flow) is acceptLogin's on a flow that was not skipped", () => {
    const fresh = acceptFreshLogin({ ...login, remember: true, rememberFor: 60 }, "lv", now);
    const full = acceptLogin(flow(), { ...login, remember: true, rememberFor: 60 }, "lv", now);
    expect(fresh).toEqual({ state: full.state, subject: full.subject, loginVerifier: full.loginVerifier, authenticatedAt: full.authenticatedAt, login: full.login });
    expect(status(() => acceptFreshLogin({ ...login, subject: "" }, "lv", now))).toBe(400);
  });
});

describe("consent", () => {
  const requested = requestConsent(flow({ state: "login_used" }), { challenge: "cc", challengeSealed: "s", csrf: "x", skip: false, subjectIdentifier: "alice" });

  test("only a used login asks for consent", () => {
    expect(requested.state).toBe("consent_requested");
    expect(() => requestConsent(flow({ state: "login_accepted" }), { challenge: "cc", challengeSealed: "s", csrf: "x", skip: false, subjectIdentifier: "a" })).toThrow();
  });

  test("answers may change until redemption; after it, 409 with Hydra's hint", () => {
    const accepted = acceptConsent(requested, grant, verifier, now);
    expect(accepted.state).toBe("consent_accepted");
    const rejected = rejectConsent(accepted, deniedError({ error: "access_denied" }, "consent request denied"), verifier, now);
    expect(rejected.state).toBe("consent_rejected");
    expect(acceptConsent(rejected, grant, verifier, now).state).toBe("consent_accepted");
    for (const state of ["consent_used", "consent_failed"] as const) {
      try {
        acceptConsent(flow({ state }), grant, verifier, now);
        throw new Error("accepted");
      } catch (err) {
        expect((err as OAuthError).status).toBe(409);
        expect((err as OAuthError).hint).toBe("The consent request was already used and can no longer be changed.");
      }
    }
    expect(status(() => acceptConsent(flow({ state: "login_requested" }), grant, verifier, now))).toBe(409);
  });

  test("a first consent answer (applied without reading the flow) is what acceptConsent/rejectConsent change", () => {
    const denied = deniedError({ error: "access_denied" }, "consent request denied");
    const pick = (f: Flow) => ({ state: f.state, consentVerifier: f.consentVerifier, consentVerifierSealed: f.consentVerifierSealed, consentHandledAt: f.consentHandledAt, consent: f.consent });
    expect(consentAccepted(grant, verifier, now)).toEqual(pick(acceptConsent(requested, grant, verifier, now)));
    expect(consentRejected(denied, verifier, now)).toEqual(pick(rejectConsent(requested, denied, verifier, now)));
    expect({ ...requested, ...consentAccepted(grant, verifier, now) }).toEqual(acceptConsent(requested, grant, verifier, now));
  });

  test("completion records the request id; failures end the flow", () => {
    expect(completeConsent(flow({ state: "consent_used" }), "cc-plain").requestId).toBe("cc-plain");
    expect(failFlow(flow({ state: "login_used" })).state).toBe("login_failed");
    expect(failFlow(flow({ state: "consent_used" })).state).toBe("consent_failed");
    expect(() => failFlow(flow({ state: "consent_requested" }))).toThrow();
  });
});

test("denials: Hydra's defaults, and the error the client gets", () => {
  expect(deniedError({}, "login request denied")).toEqual({ error: "login request denied", error_description: "", error_hint: "", status_code: 400, error_debug: "" });
  const err = deniedToOAuthError(deniedError({ error: "access_denied", error_description: "no", error_hint: "hint", status_code: 403, error_debug: "dbg" }, "x"));
  expect(err).toMatchObject({ code: "access_denied", status: 403, description: "no", hint: "hint", debug: "dbg" });
});
