import express from 'express';
import type { Interaction } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Repository } from '../core/repository.ts';
import type { Account, Accounts } from './accounts.ts';
import { findLaunch, type GrantContexts } from './launch.ts';
import { consentPage, loginPage, type PatientChoice } from './pages.ts';
import { splitScopes } from './scopes.ts';
import type pg from 'pg';

/** What the login and consent pages need. */
export interface InteractionDeps {
  provider: () => Provider;
  /** Path the authorization server is mounted at (`/auth`). */
  basePath: string;
  pool: pg.Pool;
  repo: Repository;
  accounts: Accounts;
  grantContexts: GrantContexts;
  grantTtlSeconds: number;
  upstreamName?: string;
}

/** How many patients the standalone-launch picker lists. */
const PICKER_SIZE = 100;

/**
 * The end-user steps of an authorization request that oidc-provider hands over (`/auth/interaction/:uid`):
 * login (local password; upstream IdP in upstream.ts), then consent to the requested scopes with the launch context:
 * the EHR launch's patient, the user's own patient, or one picked for a standalone `launch/patient` request.
 */
export function interactionRoutes(deps: InteractionDeps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '32kb' });

  router.get('/interaction/:uid', async (req, res) => {
    const interaction = await deps.provider().interactionDetails(req, res);
    if (interaction.prompt.name === 'login') {
      res.type('html').send(
        loginPage({
          uid: interaction.uid,
          basePath: deps.basePath,
          clientName: await clientName(deps, interaction),
          upstreamName: deps.upstreamName,
        }),
      );
      return;
    }
    res.type('html').send(await renderConsent(deps, interaction));
  });

  router.post('/interaction/:uid/login', form, async (req, res) => {
    const interaction = await deps.provider().interactionDetails(req, res);
    const result = await deps.accounts.login(String(req.body?.username ?? ''), String(req.body?.password ?? ''));
    if ('error' in result) {
      const error =
        result.error === 'locked'
          ? 'This account is locked after too many failed attempts; try again later.'
          : 'Wrong username or password.';
      res
        .status(401)
        .type('html')
        .send(
          loginPage({
            uid: interaction.uid,
            basePath: deps.basePath,
            clientName: await clientName(deps, interaction),
            error,
            upstreamName: deps.upstreamName,
          }),
        );
      return;
    }
    await deps
      .provider()
      .interactionFinished(req, res, { login: { accountId: result.account.id } }, { mergeWithLastSubmission: false });
  });

  router.post('/interaction/:uid/consent', form, async (req, res) => {
    const interaction = await deps.provider().interactionDetails(req, res);
    if (req.body?.decision !== 'approve') {
      await deps
        .provider()
        .interactionFinished(
          req,
          res,
          { error: 'access_denied', error_description: 'The user denied the request' },
          { mergeWithLastSubmission: false },
        );
      return;
    }
    const account = await deps.accounts.find(interaction.session?.accountId as string);
    const context = await launchContext(deps, interaction, account, req.body?.patient);
    if ('missing' in context) {
      res
        .status(400)
        .type('html')
        .send(await renderConsent(deps, interaction, 'Choose a patient.'));
      return;
    }
    const chosen = new Set([...toArray(req.body?.scope), 'openid']);
    const grantId = await saveGrant(deps, interaction, chosen);
    await deps.grantContexts.save({ grantId, ...context, fhirUser: account?.fhirUser }, deps.grantTtlSeconds);
    await deps.provider().interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  });

  router.get('/interaction/:uid/abort', async (req, res) => {
    await deps
      .provider()
      .interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'The user cancelled' },
        { mergeWithLastSubmission: false },
      );
  });

  return router;
}

async function clientName(deps: InteractionDeps, interaction: Interaction): Promise<string> {
  const client = await deps.provider().Client.find(String(interaction.params.client_id));
  return client?.clientName ?? String(interaction.params.client_id);
}

function toArray(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** True when the request needs a patient picked by the user (standalone `launch/patient` without an EHR launch). */
function needsPatientPick(interaction: Interaction): boolean {
  return splitScopes(interaction.params.scope as string).includes('launch/patient') && !interaction.params.launch;
}

async function renderConsent(deps: InteractionDeps, interaction: Interaction, error?: string): Promise<string> {
  const account = await deps.accounts.find(interaction.session?.accountId as string);
  let patients: PatientChoice[] | undefined;
  let fixedPatient: PatientChoice | undefined;
  if (needsPatientPick(interaction)) {
    if (account?.patient) fixedPatient = { id: account.patient, label: `Patient/${account.patient}` };
    else patients = await listPatients(deps.repo);
  }
  const scopes = splitScopes(interaction.params.scope as string).filter((s) => s !== 'openid');
  return consentPage({
    uid: interaction.uid,
    basePath: deps.basePath,
    clientName: await clientName(deps, interaction),
    scopes,
    patients,
    fixedPatient,
    error,
  });
}

/** The launch context to bind: from the EHR launch, the user's own patient, or the picked one. */
async function launchContext(
  deps: InteractionDeps,
  interaction: Interaction,
  account: Account | undefined,
  picked: unknown,
): Promise<{ patient?: string; encounter?: string; needPatientBanner: boolean } | { missing: 'patient' }> {
  const launchId = interaction.params.launch as string | undefined;
  if (launchId) {
    const launch = await findLaunch(deps.pool, launchId);
    return { patient: launch?.patient, encounter: launch?.encounter, needPatientBanner: false };
  }
  if (!needsPatientPick(interaction)) return { patient: account?.patient, needPatientBanner: true };
  if (account?.patient) return { patient: account.patient, needPatientBanner: true };
  const patient = typeof picked === 'string' ? picked : '';
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(patient) || !(await deps.repo.readCurrent('Patient', patient)))
    return { missing: 'patient' };
  return { patient, needPatientBanner: true };
}

/** Records the scopes the user allowed (OIDC ones and those for the FHIR endpoint) in the grant. */
async function saveGrant(deps: InteractionDeps, interaction: Interaction, chosen: Set<string>): Promise<string> {
  const provider = deps.provider();
  const { details } = interaction.prompt as { details: Record<string, unknown> };
  const grant = interaction.grantId
    ? ((await provider.Grant.find(interaction.grantId)) ?? newGrant(provider, interaction))
    : newGrant(provider, interaction);
  const missingOidc = (details.missingOIDCScope as string[] | undefined) ?? [];
  const oidcScopes = missingOidc.filter((s) => chosen.has(s));
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
  const rejectedOidc = missingOidc.filter((s) => !chosen.has(s));
  if (rejectedOidc.length) grant.rejectOIDCScope(rejectedOidc.join(' '));
  const claims = details.missingOIDCClaims as string[] | undefined;
  if (claims?.length) grant.addOIDCClaims(claims);
  const resourceScopes = (details.missingResourceScopes as Record<string, string[]> | undefined) ?? {};
  for (const [indicator, scopes] of Object.entries(resourceScopes)) {
    const allowed = scopes.filter((s) => chosen.has(s));
    if (allowed.length) grant.addResourceScope(indicator, allowed.join(' '));
    const rejected = scopes.filter((s) => !chosen.has(s));
    if (rejected.length) grant.rejectResourceScope(indicator, rejected.join(' '));
  }
  return grant.save();
}

function newGrant(provider: Provider, interaction: Interaction) {
  return new provider.Grant({
    accountId: interaction.session?.accountId as string,
    clientId: String(interaction.params.client_id),
  });
}

/** Up to PICKER_SIZE live patients, most recently changed first, labelled by name. */
async function listPatients(repo: Repository): Promise<PatientChoice[]> {
  const r = await repo.query<{ id: string; content: string }>(
    `SELECT id, content FROM resource WHERE resource_type = 'Patient' AND NOT deleted ORDER BY last_updated DESC LIMIT $1`,
    [PICKER_SIZE],
  );
  return r.rows.map((row) => {
    const name = (JSON.parse(row.content) as { name?: { given?: string[]; family?: string }[] }).name?.[0];
    const label = [name?.given?.join(' '), name?.family].filter(Boolean).join(' ') || `Patient/${row.id}`;
    return { id: row.id, label: `${label} (${row.id})` };
  });
}
