import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../fhir/definitions.ts';
import { ScopedAccess } from './access.ts';
import { matchesAny } from './match.ts';
import { describeScope } from './pages.ts';
import { parseResourceScope, scopeCovers } from './scopes.ts';

const isType = (t: string) => loadDefinitions().resourceTypeSet.has(t);

beforeAll(() => {
  loadDefinitions();
});

describe('SMART scope parsing', () => {
  it('reads v1 and v2 permissions', () => {
    expect([...parseResourceScope('patient/Observation.read', isType)!.permissions]).toEqual(['r', 's']);
    expect([...parseResourceScope('user/*.write', isType)!.permissions]).toEqual(['c', 'u', 'd']);
    expect([...parseResourceScope('system/*.*', isType)!.permissions]).toEqual(['c', 'r', 'u', 'd', 's']);
    expect([...parseResourceScope('patient/Observation.rs', isType)!.permissions]).toEqual(['r', 's']);
    expect([...parseResourceScope('user/*.cruds', isType)!.permissions]).toEqual(['c', 'r', 'u', 'd', 's']);
  });

  it('reads granular criteria and refuses what it cannot enforce', () => {
    const s = parseResourceScope(
      'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs',
      isType,
    );
    expect(s?.criteria).toEqual({
      category: ['http://terminology.hl7.org/CodeSystem/observation-category|vital-signs'],
    });
    for (const bad of [
      'patient/Observation.sr', // v2 order is cruds
      'patient/Nonsense.rs',
      'patient/Observation.',
      'patient/Observation.read?category=x', // granular needs v2
      'patient/*.rs?category=x', // granular needs a type
      'patient/Observation.rs?date=2020', // date criteria are not supported
      'patient/Observation.rs?nonsense=1',
      'group/Observation.rs',
    ]) {
      expect(parseResourceScope(bad, isType), bad).toBeUndefined();
    }
  });

  it('decides whether an allowed scope covers a requested one', () => {
    const p = (s: string) => parseResourceScope(s, isType)!;
    expect(scopeCovers(p('system/*.*'), p('system/Observation.rs'))).toBe(true);
    expect(scopeCovers(p('system/Observation.rs'), p('system/Observation.cruds'))).toBe(false);
    expect(scopeCovers(p('system/*.rs'), p('patient/Observation.rs'))).toBe(false);
  });
});

describe('ScopedAccess', () => {
  it('confines patient/ scopes to the Patient compartment (per CompartmentDefinition Patient)', () => {
    const access = new ScopedAccess({ clientId: 'app', scope: 'launch/patient patient/*.rs', patient: '1' });
    expect(access.visibleWhere('Observation')).toEqual([{ subject: ['Patient/1'] }, { performer: ['Patient/1'] }]);
    expect(access.whereFor('r', 'Patient')).toEqual([{ _id: ['1'] }, { link: ['Patient/1'] }]);
    expect(access.permits('c', 'Observation')).toBe(false);
    expect(access.whereFor('r', 'Practitioner')).toBeUndefined();
    expect(access.permits('r', 'Library')).toBe(false);
    expect(access.kind).toBe('system');
  });

  it('ANDs granular criteria into the compartment', () => {
    const access = new ScopedAccess({
      clientId: 'app',
      scope: 'patient/Observation.rs?category=vital-signs',
      patient: '7',
    });
    expect(access.whereFor('s', 'Observation')).toEqual([
      { subject: ['Patient/7'], category: ['vital-signs'] },
      { performer: ['Patient/7'], category: ['vital-signs'] },
    ]);
    expect(access.permits('r', 'Condition')).toBe(false);
  });

  it('grants nothing for patient/ scopes without a launch patient', () => {
    const access = new ScopedAccess({ clientId: 'app', scope: 'patient/*.cruds' });
    expect(access.permits('r', 'Observation')).toBe(false);
    expect(access.visibleWhere('Observation')).toEqual([]);
  });

  it('limits user/ scopes by the role policy', () => {
    const doctor = new ScopedAccess({
      clientId: 'app',
      scope: 'user/*.cruds',
      role: 'practitioner',
      fhirUser: 'Practitioner/5',
    });
    expect(doctor.visibleWhere('Observation')).toBeUndefined();
    expect(doctor.kind).toBe('user');
    const patient = new ScopedAccess({
      clientId: 'app',
      scope: 'user/*.cruds',
      role: 'patient',
      fhirUser: 'Patient/3',
      ownPatient: '3',
    });
    expect(patient.whereFor('r', 'Encounter')).toEqual([{ subject: ['Patient/3'] }]);
    expect(patient.permits('d', 'Observation')).toBe(false);
    expect(patient.whereFor('c', 'QuestionnaireResponse')).toEqual([
      { subject: ['Patient/3'] },
      { author: ['Patient/3'] },
    ]);
    const device = new ScopedAccess({ clientId: 'app', scope: 'user/*.read', role: 'device' });
    expect(device.permits('r', 'Observation')).toBe(true);
    expect(device.permits('r', 'Condition')).toBe(false);
    expect(new ScopedAccess({ clientId: 'x', scope: 'user/*.rs' }).permits('r', 'Patient')).toBe(false);
  });

  it('does not confine system/ scopes but refuses them to user tokens', () => {
    const backend = new ScopedAccess({ clientId: 'svc', scope: 'system/Observation.rs system/Patient.c' });
    expect(backend.visibleWhere('Observation')).toBeUndefined();
    expect(backend.permits('c', 'Patient')).toBe(true);
    expect(backend.permits('u', 'Patient')).toBe(false);
    const user = new ScopedAccess({ clientId: 'app', scope: 'system/*.*', role: 'practitioner' });
    expect(user.permits('r', 'Patient')).toBe(false);
  });
});

describe('ScopedAccess.mayWrite', () => {
  const observation = (subject: string, more: Record<string, unknown> = {}) =>
    ({
      resourceType: 'Observation',
      id: 'o',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: subject },
      ...more,
    }) as Resource;
  const patientApp = new ScopedAccess({ clientId: 'app', scope: 'patient/*.cruds', patient: '1' });

  it('keeps a compartment-confined write inside the patient’s compartment alone', () => {
    expect(patientApp.mayWrite('c', observation('Patient/1'))).toBe(true);
    expect(
      patientApp.mayWrite(
        'c',
        observation('Patient/1', { performer: [{ reference: 'Practitioner/9' }, { reference: 'Patient/1' }] }),
      ),
    ).toBe(true);
    expect(patientApp.mayWrite('c', observation('Patient/2', { performer: [{ reference: 'Patient/1' }] }))).toBe(false);
    expect(patientApp.mayWrite('u', observation('Patient/1', { performer: [{ reference: 'Patient/2' }] }))).toBe(false);
    expect(
      patientApp.mayWrite(
        'd',
        observation('http://elsewhere.example/fhir/Patient/2/_history/3', { performer: [{ reference: 'Patient/1' }] }),
      ),
    ).toBe(false);
    // no compartment parameter names the patient: not in the compartment at all
    expect(patientApp.mayWrite('c', observation('Group/1', { performer: [{ reference: 'Practitioner/1' }] }))).toBe(
      false,
    );
    // focus is not a compartment parameter of Observation
    expect(patientApp.mayWrite('c', observation('Patient/1', { focus: [{ reference: 'Patient/2' }] }))).toBe(true);
  });

  it('looks into contained resources', () => {
    const inner = { ...observation('Patient/2'), id: 'inner' };
    expect(
      patientApp.mayWrite('c', observation('Patient/1', { contained: [inner], hasMember: [{ reference: '#inner' }] })),
    ).toBe(false);
    const local = { resourceType: 'Patient', id: 'p' };
    expect(
      patientApp.mayWrite('c', observation('#p', { contained: [local], performer: [{ reference: 'Patient/1' }] })),
    ).toBe(true);
  });

  it('lets a patient write only its own Patient, linked to no other patient', () => {
    const patient = (id: string, link?: string) =>
      ({
        resourceType: 'Patient',
        id,
        ...(link ? { link: [{ other: { reference: link }, type: 'seealso' }] } : {}),
      }) as Resource;
    expect(patientApp.mayWrite('u', patient('1'))).toBe(true);
    expect(patientApp.mayWrite('u', patient('1', 'RelatedPerson/4'))).toBe(true);
    expect(patientApp.mayWrite('u', patient('1', 'Patient/2'))).toBe(false);
    expect(patientApp.mayWrite('c', patient('3', 'Patient/1'))).toBe(false);
  });

  it('applies the rule per grant: granular criteria AND it, an unconfined grant lifts it', () => {
    const vitals = new ScopedAccess({
      clientId: 'app',
      scope: 'patient/Observation.cu?category=vital-signs',
      patient: '1',
    });
    const vital = { category: [{ coding: [{ code: 'vital-signs' }] }] };
    expect(vitals.mayWrite('c', observation('Patient/1', vital))).toBe(true);
    expect(vitals.mayWrite('c', observation('Patient/1'))).toBe(false);
    expect(vitals.mayWrite('c', observation('Patient/1', { ...vital, performer: [{ reference: 'Patient/2' }] }))).toBe(
      false,
    );
    const user = new ScopedAccess({
      clientId: 'app',
      scope: 'user/*.cruds',
      role: 'patient',
      fhirUser: 'RelatedPerson/5',
      ownPatient: '1',
    });
    expect(user.mayWrite('c', observation('Patient/1'))).toBe(true);
    expect(user.mayWrite('c', observation('Patient/2', { performer: [{ reference: 'Patient/1' }] }))).toBe(false);
    const both = new ScopedAccess({
      clientId: 'app',
      scope: 'patient/*.cruds user/*.cruds',
      patient: '1',
      role: 'practitioner',
    });
    expect(both.mayWrite('c', observation('Patient/2', { performer: [{ reference: 'Patient/1' }] }))).toBe(true);
  });
});

describe('in-memory criteria matching', () => {
  const obs = {
    resourceType: 'Observation' as const,
    id: 'o1',
    status: 'final' as const,
    code: { text: 'x' },
    subject: { reference: 'Patient/1' },
    category: [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] },
    ],
  };

  it('matches references, tokens and ids with search semantics', () => {
    expect(matchesAny(obs, [{ subject: ['Patient/1'] }])).toBe(true);
    expect(matchesAny(obs, [{ subject: ['Patient/2'] }])).toBe(false);
    expect(matchesAny(obs, [{ subject: ['Patient/2'] }, { subject: ['Patient/1'] }])).toBe(true);
    expect(matchesAny(obs, [{ subject: ['Patient/1'], category: ['vital-signs'] }])).toBe(true);
    expect(matchesAny(obs, [{ subject: ['Patient/1'], category: ['laboratory'] }])).toBe(false);
    expect(
      matchesAny(obs, [{ category: ['http://terminology.hl7.org/CodeSystem/observation-category|vital-signs'] }]),
    ).toBe(true);
    expect(matchesAny(obs, [{ category: ['http://other|vital-signs'] }])).toBe(false);
    expect(matchesAny(obs, [{ _id: ['o2,o1'] }])).toBe(true);
    expect(matchesAny(obs, [])).toBe(false);
    expect(matchesAny(obs, undefined)).toBe(true);
    expect(
      matchesAny({ ...obs, subject: { reference: 'http://elsewhere/fhir/Patient/1' } }, [{ subject: ['Patient/1'] }]),
    ).toBe(true);
  });
});

describe('consent page wording', () => {
  it('describes scopes in words', () => {
    expect(describeScope('patient/*.rs')).toBe('Read and search all data of the selected patient');
    expect(describeScope('user/Observation.cruds')).toBe(
      'Create, read, update, delete and search Observation resources you can access',
    );
    expect(describeScope('patient/Observation.rs?category=vital-signs')).toBe(
      'Read and search Observation resources of the selected patient where category=vital-signs',
    );
    expect(describeScope('offline_access')).toBe('Keep access after you sign out');
  });
});
