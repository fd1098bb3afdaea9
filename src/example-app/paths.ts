/**
 * @module Where the example app answers on the public listener. config/load.ts points
 * urls.login, urls.consent and urls.logout here when the app is on and they are unset.
 */
export const exampleAppPaths = {
  home: "/example/",
  login: "/example/login",
  consent: "/example/consent",
  logout: "/example/logout",
} as const;
