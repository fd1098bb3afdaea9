/**
 * @module What the example-app and browser tests share: the server config that turns the
 * example app on, reading its forms out of the HTML, and `gatehouse token user` as a process.
 */
import { bunBin, childEnv, repoRoot } from "../keys/support.ts";
import type { Browser, Stop } from "../flows/kit.ts";

/** The example app answers for login, consent and logout (kit's base config points elsewhere). */
export const exampleAppConfig = { example_app: { enabled: true }, urls: { login: "", consent: "", logout: "" } };

const unescape = (s: string) =>
  s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">");

export interface Form {
  action: string;
  /** Hidden fields and checked checkboxes, as a browser would send them (repeated names kept). */
  fields: [string, string][];
  /** Every checkbox: name, value, checked. */
  checkboxes: { name: string; value: string; checked: boolean }[];
}

/** The one form of an example-app page. */
export function formOf(html: string): Form {
  const form = /<form method="post" action="([^"]*)">([\s\S]*?)<\/form>/.exec(html);
  if (!form) throw new Error(`no form in the page: ${html.slice(0, 400)}`);
  const fields: [string, string][] = [];
  const checkboxes: Form["checkboxes"] = [];
  for (const m of form[2]!.matchAll(/<input type="(hidden|checkbox)" name="([^"]*)" value="([^"]*)"( checked)?>/g)) {
    const [name, value] = [unescape(m[2]!), unescape(m[3]!)];
    if (m[1] === "hidden") fields.push([name, value]);
    else {
      checkboxes.push({ name, value, checked: Boolean(m[4]) });
      if (m[4]) fields.push([name, value]);
    }
  }
  return { action: unescape(form[1]!), fields, checkboxes };
}

/** Posts a page's form with the browser's cookies (redirects on our server are followed). */
export async function submit(browser: Browser, page: string, path: string, fields: [string, string][]): Promise<Stop> {
  return browser.navigate(path, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams([...formOf(page).fields, ...fields]).toString(),
  });
}

export interface TokenUserProcess {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** The authorization URL it printed. */
  authorizationUrl: Promise<string>;
  /** Exit code, stdout and stderr once it ends (killed after the timeout). */
  result: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** `gatehouse token user …` as a real process; its URL is read from stderr as a user would. */
export function spawnTokenUser(args: string[], timeoutMs = 60_000): TokenUserProcess {
  const proc = Bun.spawn([bunBin, "src/main.ts", "token", "user", ...args], {
    cwd: repoRoot,
    env: childEnv({}),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(), timeoutMs);
  let stderr = "";
  let found: (url: string) => void = () => {};
  let missing: (err: Error) => void = () => {};
  const authorizationUrl = new Promise<string>((resolve, reject) => {
    found = resolve;
    missing = reject;
  });
  const readErr = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      stderr += decoder.decode(chunk);
      const m = /\n {2}(https?:\/\/\S+)\n/.exec(stderr);
      if (m) found(m[1]!);
    }
    missing(new Error(`token user printed no authorization URL: ${stderr}`));
  })();
  const result = (async () => {
    const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited, readErr]);
    clearTimeout(timer);
    return { code, stdout, stderr };
  })();
  return { proc, authorizationUrl, result };
}
