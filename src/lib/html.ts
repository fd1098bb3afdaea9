/**
 * @module Server-rendered HTML pages (the example app, `token user`'s callback page): escaping,
 * one layout with inline CSS (no external assets, readable on a phone) and the security
 * headers of every page.
 */
import { createHash } from "node:crypto";

/** Escapes the five characters that matter in element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const css = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f3f4f6}
main{max-width:28rem;margin:2rem auto;padding:1.5rem;background:#fff;border:1px solid #d0d7de;border-radius:.75rem}
@media (max-width:30rem){main{margin:0;min-height:100vh;border:0;border-radius:0}}
h1{font-size:1.4rem;margin:0 0 1rem}
p{margin:.5rem 0}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input[type=email],input[type=password]{width:100%;padding:.65rem;font-size:1rem;border:1px solid #8c959f;border-radius:.4rem}
.check{display:flex;gap:.6rem;align-items:flex-start;font-weight:400;margin:.6rem 0}
.check input{margin-top:.3rem;width:1.1rem;height:1.1rem;flex:none}
.check small{display:block;color:#59636e}
fieldset{border:1px solid #d0d7de;border-radius:.5rem;margin:1rem 0;padding:.25rem .9rem}
legend{font-weight:600;padding:0 .3rem}
.actions{display:flex;gap:.75rem;margin-top:1.25rem;flex-wrap:wrap}
button{flex:1 1 8rem;padding:.75rem 1rem;font-size:1rem;border-radius:.4rem;border:1px solid #8c959f;background:#fff;cursor:pointer}
button.primary{background:#0969da;border-color:#0969da;color:#fff;font-weight:600}
.client{display:flex;gap:.75rem;align-items:center;margin-bottom:1rem}
.client img{width:3rem;height:3rem;object-fit:contain;border-radius:.4rem}
.error{background:#ffebe9;border:1px solid #ff8182;padding:.6rem .8rem;border-radius:.4rem}
.hint{color:#59636e;font-size:.9rem}
code{background:#f6f8fa;padding:.1rem .3rem;border-radius:.25rem;word-break:break-all}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:.6rem;border-radius:.4rem;font-size:.85rem;margin:.25rem 0 1rem}
h2{font-size:1rem;margin:1rem 0 .25rem}
footer{margin-top:1.5rem;color:#59636e;font-size:.85rem}
`;

/** CSP allows exactly this stylesheet, by hash: no other style and no script can run. */
const cssHash = createHash("sha256").update(css).digest("base64");

export interface HtmlPageOptions {
  title: string;
  /** Trusted HTML: built from escaped values only. */
  body: string;
  status?: number;
  /** The origin of a client logo the page shows (the only image source allowed). */
  imageOrigin?: string;
  headers?: Record<string, string>;
  /** One line under the content, saying what made the page. */
  footer: string;
}

export function htmlPage(options: HtmlPageOptions): Response {
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(options.title)}</title>
<style>${css}</style>
</head>
<body>
<main>
${options.body}
<footer>${escapeHtml(options.footer)}</footer>
</main>
</body>
</html>
`;
  // No form-action: a login or consent form is answered with a redirect that ends at the
  // client's redirect URI, and browsers apply form-action to every hop of that chain.
  const csp = [
    "default-src 'none'",
    `style-src 'sha256-${cssHash}'`,
    `img-src ${options.imageOrigin ?? "'none'"}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
  return new Response(html, {
    status: options.status ?? 200,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-store",
      "Content-Security-Policy": csp,
      "X-Content-Type-Options": "nosniff",
      "X-Frame-Options": "DENY",
      // Challenges are in the URL: never send them on to another site.
      "Referrer-Policy": "no-referrer",
      ...options.headers,
    },
  });
}

