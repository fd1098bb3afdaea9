/**
 * @module What a grant type plugs into the token endpoint (STYLE convention 6).
 * The pipeline in oauth2/token.ts has already parsed the form (no repeated
 * parameters but `audience`), authenticated the client (clients/auth.ts), checked
 * that the client may use this grant, and parsed `scope` and `audience`; the
 * handler does the rest.
 */
import type { StoredClient } from "../../clients/types.ts";
import type { Cx } from "../../server/http.ts";

export interface TokenRequest {
  /**
   * The form, every parameter at most once (except `audience`), holding only what the
   * pipeline reads and what the grant declared in `params`; anything else was dropped.
   */
  form: URLSearchParams;
  /** The authenticated client (a public client for method "none"). */
  client: StoredClient;
  /** `scope` split by spaces, validated as RFC 6749 §3.3 scope-tokens. */
  requestedScope: string[];
  /** `audience`, space-separated or repeated as Hydra accepts. */
  requestedAudience: string[];
  /** The time of the request (deps.clock), one value for every step of it. */
  now: Date;
}

/** RFC 6749 §5.1 successful response (plus id_token for OpenID Connect). */
export interface TokenResponse {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
}

/**
 * A grant type: one module in oauth2/grants/ plus one line in grants/index.ts. Throw
 * OAuthError (invalid_grant, invalid_scope …) to refuse; issue tokens with
 * oauth2/tokens.ts (issueAccessToken, accessTokenResponse), inside a transaction when the
 * grant writes more than one row (deps.db.transaction((tx) => …)).
 */
export interface GrantHandler {
  /** The `grant_type` value, e.g. "client_credentials" or an absolute URI (RFC 6749 §4.5). */
  grantType: string;
  /** Parameters this grant reads besides grant_type, client authentication, scope and audience. */
  params: ReadonlySet<string>;
  /** Whether a public client (token_endpoint_auth_method "none") may use it. */
  allowsPublicClient: boolean;
  handle(req: TokenRequest, cx: Cx): Promise<TokenResponse>;
}
