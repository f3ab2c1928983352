import type { CareTeam, Communication } from '@medplum/fhirtypes';
import type { BotFhirClient } from '../types.ts';

/** Who an alert Communication goes to. */
export type Recipient = NonNullable<Communication['recipient']>[number];

/** The members of the patient's active care teams whose participation has not ended: an alert's recipients. */
export async function careTeamMembers(fhir: BotFhirClient, patient: string, now: Date): Promise<Recipient[]> {
  const bundle = await fhir.search<CareTeam>('CareTeam', { subject: patient, status: 'active', _count: '20' });
  return membersOf(
    (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])),
    now,
  );
}

/** The current members of care teams, once each. */
export function membersOf(teams: CareTeam[], now: Date): Recipient[] {
  const out = new Map<string, Recipient>();
  for (const team of teams)
    for (const p of team.participant ?? []) {
      const ended = p.period?.end !== undefined && Date.parse(p.period.end) < now.getTime();
      if (p.member?.reference && !ended) out.set(p.member.reference, { reference: p.member.reference });
    }
  return [...out.values()];
}
