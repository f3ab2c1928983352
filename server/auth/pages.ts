/**
 * The authorization server's HTML pages (login, consent with patient picker, errors). Plain server-rendered HTML:
 * a few small forms do not warrant a template engine; every interpolated value goes through `esc`.
 */

/** Escapes text for HTML element content and attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Tributary</title>
<style>
body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}label{display:block;margin:.6rem 0 .2rem}input[type=text],input[type=password],select{width:100%;padding:.5rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1.2rem}.error{color:#a40000}.scope{font-family:monospace}ul{padding-left:0;list-style:none}
</style></head><body>${body}</body></html>`;
}

/** The login form of an interaction, with the upstream IdP button when one is configured. */
export function loginPage(opts: {
  uid: string;
  basePath: string;
  clientName: string;
  error?: string;
  upstreamName?: string;
}): string {
  const action = `${opts.basePath}/interaction/${esc(opts.uid)}`;
  return page(
    'Sign in',
    `<h1>Sign in to ${esc(opts.clientName)}</h1>
${opts.error ? `<p class="error" role="alert">${esc(opts.error)}</p>` : ''}
<form method="post" action="${action}/login" autocomplete="off">
<label for="username">Username</label><input type="text" id="username" name="username" required autofocus>
<label for="password">Password</label><input type="password" id="password" name="password" required>
<button type="submit" id="sign-in">Sign in</button>
</form>
${opts.upstreamName ? `<p><a id="upstream" href="${action}/upstream">Sign in with ${esc(opts.upstreamName)}</a></p>` : ''}
<p><a href="${action}/abort">Cancel</a></p>`,
  );
}

/** A patient the user may pick for a standalone launch. */
export interface PatientChoice {
  id: string;
  label: string;
}

/** The consent form: the scopes the app asks for (each may be unticked) and, when needed, the patient picker. */
export function consentPage(opts: {
  uid: string;
  basePath: string;
  clientName: string;
  scopes: string[];
  patients?: PatientChoice[];
  fixedPatient?: PatientChoice;
  error?: string;
}): string {
  const action = `${opts.basePath}/interaction/${esc(opts.uid)}`;
  const picker = opts.fixedPatient
    ? `<p>Patient: <strong>${esc(opts.fixedPatient.label)}</strong></p>`
    : opts.patients
      ? `<label for="patient">Patient</label><select id="patient" name="patient" required>
<option value="">Choose a patient…</option>
${opts.patients.map((p) => `<option value="${esc(p.id)}">${esc(p.label)}</option>`).join('\n')}
</select>`
      : '';
  return page(
    'Authorize',
    `<h1>${esc(opts.clientName)} asks for access</h1>
${opts.error ? `<p class="error" role="alert">${esc(opts.error)}</p>` : ''}
<form method="post" action="${action}/consent">
${picker}
<ul>
${opts.scopes.map((s) => `<li><label><input type="checkbox" name="scope" value="${esc(s)}" checked> ${esc(describeScope(s))} <span class="scope">(${esc(s)})</span></label></li>`).join('\n')}
</ul>
<button type="submit" id="approve" name="decision" value="approve">Allow</button>
<button type="submit" id="deny" name="decision" value="deny">Deny</button>
</form>`,
  );
}

const CONTEXT_SCOPES: Record<string, string> = {
  openid: 'Know who you are',
  fhirUser: 'Know who you are',
  profile: 'See your name',
  launch: 'Use the context the EHR opened it in',
  'launch/patient': 'Know which patient is selected',
  'launch/encounter': 'Know which encounter is selected',
  offline_access: 'Keep access after you sign out',
  online_access: 'Keep access while you are signed in',
};

const VERBS: Record<string, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/** A person's words for a scope, shown next to it on the consent page. */
export function describeScope(scope: string): string {
  if (CONTEXT_SCOPES[scope]) return CONTEXT_SCOPES[scope];
  const m = /^(patient|user|system)\/(\*|\w+)\.([a-z*]+)(\?.*)?$/.exec(scope);
  if (!m) return scope;
  const [, context, type, perms, query] = m;
  const letters = perms === 'read' ? 'rs' : perms === 'write' ? 'cud' : perms === '*' ? 'cruds' : perms;
  const verbs = letters
    .split('')
    .map((l) => VERBS[l])
    .filter(Boolean);
  const what = type === '*' ? 'all data' : `${type} resources`;
  const whose = context === 'patient' ? ' of the selected patient' : context === 'user' ? ' you can access' : '';
  const verbText = verbs.length > 1 ? `${verbs.slice(0, -1).join(', ')} and ${verbs[verbs.length - 1]}` : verbs[0];
  return `${verbText[0].toUpperCase()}${verbText.slice(1)} ${what}${whose}${query ? ` where ${query.slice(1)}` : ''}`;
}

/** An error page of the authorization server. */
export function errorPage(error: string, description?: string): string {
  return page(
    'Error',
    `<h1>Authorization failed</h1><p class="error">${esc(error)}</p>${description ? `<p>${esc(description)}</p>` : ''}`,
  );
}
