/**
 * @module Races not covered elsewhere. Already proven (not repeated here):
 * 20 parallel redemptions of one code (test/grants/authorization-code.test.ts), 20 parallel
 * refreshes with grace 0 and with a grace period (test/grants/refresh-token.test.ts), N parallel
 * accepts of one login challenge and redemptions of one login/consent verifier
 * (test/flows/security.test.ts). Here: N parallel accepts (and mixed accept/reject) of one
 * consent challenge, and parallel login accepts with different subjects. RELIABILITY_LONG=1 uses more racers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { acceptLogin, admin, authPath, Browser, challengeFrom, createClient, jsonInit, q, readResponse, startEnv, startTimeout, state, type Env } from "../flows/kit.ts";
import { figuresOf } from "./figures.ts";

const racers = process.env.RELIABILITY_LONG === "1" ? 64 : 20;
const figures = figuresOf("races");

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`challenge races on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "reliability_races");
      client = await createClient(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const consentChallenge = async (browser: Browser) => {
      const login = challengeFrom(await browser.navigate(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", state: state() })), "login");
      return challengeFrom(await browser.navigate(await acceptLogin(env, login)), "consent");
    };

    // A consent request may be answered again until its verifier is redeemed (Hydra v1); every
    // answer carries the one verifier of that request, so only one redirect_to can ever be used.
    test(`${racers} parallel accepts of one consent challenge: one verifier in every redirect_to, redeemed exactly once`, async () => {
      const browser = new Browser(env);
      const challenge = await consentChallenge(browser);
      const answers = await Promise.all(
        Array.from({ length: racers }, () => admin(env, `/oauth2/auth/requests/consent/accept?consent_challenge=${q(challenge)}`, jsonInit({ grant_scope: ["openid"] }))),
      );
      expect(answers.every((a) => a.status === 200 || a.status === 409)).toBe(true);
      const targets = new Set(answers.filter((a) => a.status === 200).map((a) => a.body.redirect_to as string));
      expect(targets.size).toBe(1);
      const [target] = [...targets];
      const redeemed = await Promise.all(Array.from({ length: 8 }, () => browser.navigate(target!)));
      expect(redeemed.filter((r) => readResponse(r).params.code !== undefined)).toHaveLength(1);
      // Once redeemed, the challenge cannot be answered again.
      expect((await admin(env, `/oauth2/auth/requests/consent/accept?consent_challenge=${q(challenge)}`, jsonInit({ grant_scope: ["openid"] }))).status).toBe(409);
      figures.add(`${backend}: parallel consent accepts`, { racers, answered200: answers.filter((a) => a.status === 200).length, answered409: answers.filter((a) => a.status === 409).length, distinctRedirects: targets.size, redemptionsWithCode: 1 });
    });

    test(`${racers} parallel accepts and rejects of one consent challenge: one verifier, and its redemption gives a code or access_denied, never both`, async () => {
      const browser = new Browser(env);
      const challenge = await consentChallenge(browser);
      const answers = await Promise.all(
        Array.from({ length: racers }, (_, i) =>
          admin(
            env,
            `/oauth2/auth/requests/consent/${i % 2 ? "accept" : "reject"}?consent_challenge=${q(challenge)}`,
            jsonInit(i % 2 ? { grant_scope: ["openid"] } : { error: "access_denied" }),
          ),
        ),
      );
      const targets = new Set(answers.filter((a) => a.status === 200).map((a) => a.body.redirect_to as string));
      expect(targets.size).toBe(1);
      const redeemed = await Promise.all(Array.from({ length: 8 }, () => browser.navigate([...targets][0]!)));
      const outcomes = redeemed.map((r) => readResponse(r).params);
      // The one redemption that wins gives the answer that won: a code, or the rejection's own
      // access_denied; the losers are told the verifier was used already.
      const winners = outcomes.filter((p) => p.code !== undefined || (p.error === "access_denied" && !p.error_description?.includes("already been used")));
      expect(winners.length).toBe(1);
      expect(outcomes.filter((p) => p.code !== undefined).length).toBeLessThanOrEqual(1);
      figures.add(`${backend}: parallel consent accepts and rejects`, { racers, distinctRedirects: targets.size, winningRedemptions: winners.length });
    });

    test(`${racers} parallel login accepts with different subjects: the one winner's subject is the one in the consent request`, async () => {
      const browser = new Browser(env);
      const challenge = challengeFrom(await browser.navigate(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", state: state() })), "login");
      const answers = await Promise.all(
        Array.from({ length: racers }, (_, i) => admin(env, `/oauth2/auth/requests/login/accept?login_challenge=${q(challenge)}`, jsonInit({ subject: `racer-${i}` }))),
      );
      const winners = answers.map((a, i) => [a, i] as const).filter(([a]) => a.status === 200);
      expect(winners).toHaveLength(1);
      const consent = challengeFrom(await browser.navigate(winners[0]![0].body.redirect_to), "consent");
      expect((await admin(env, `/oauth2/auth/requests/consent?consent_challenge=${q(consent)}`)).body.subject).toBe(`racer-${winners[0]![1]}`);
      figures.add(`${backend}: parallel login accepts`, { racers, winners: winners.length });
    });
  });
}
