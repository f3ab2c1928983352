import type { Request, Response } from 'express';
import { SOFTWARE_VERSION } from '../project.ts';

/** Escapes text for HTML element content and attribute values. */
function esc(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * `GET /`: a small page for whoever opens the server in a browser (instead of "Cannot GET /"): name, version, the FHIR
 * base and links to what an operator or app developer looks for first. JSON clients get the same facts as JSON.
 * `fhirBase` is the configured public base, else derived from the request (as the FHIR endpoint does); `smart` says
 * whether authorization (and so SMART discovery) is on.
 */
export function landingPage(fhirBase: string | undefined, smart: () => boolean) {
  return (req: Request, res: Response): void => {
    const base = fhirBase?.replace(/\/+$/, '') ?? `${req.protocol}://${req.get('host') ?? 'localhost'}/fhir`;
    const links: [string, string][] = [
      ['FHIR CapabilityStatement', `${base}/metadata`],
      ...(smart() ? [['SMART configuration', `${base}/.well-known/smart-configuration`] as [string, string]] : []),
      ['Health', `${new URL(base).origin}/healthz`],
      ['Metrics (Prometheus)', `${new URL(base).origin}/metrics`],
    ];
    res.setHeader('Cache-Control', 'no-store');
    if (req.accepts(['html', 'json']) === 'json') {
      res.json({ name: 'Tributary', version: SOFTWARE_VERSION, fhirBase: base, links: Object.fromEntries(links) });
      return;
    }
    res.type('html').send(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tributary ${esc(SOFTWARE_VERSION)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1b1f24}code{background:#f2f4f7;padding:.1rem .3rem}</style>
</head><body>
<h1>Tributary <small>${esc(SOFTWARE_VERSION)}</small></h1>
<p>An open-source FHIR R4 server. FHIR base: <code id="fhir-base">${esc(base)}</code></p>
<ul>${links.map(([label, href]) => `<li><a href="${esc(href)}">${esc(label)}</a></li>`).join('')}</ul>
</body></html>`);
  };
}
