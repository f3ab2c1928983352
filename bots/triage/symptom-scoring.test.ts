import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CHECK_INS, SOURCES } from './symptom-checkins.ts';
import { bandOfScore, checkInOf, questionnaireOf, scoreResponse } from './symptom-scoring.ts';
import { responseOf } from './symptom-responses.ts';

const byName = (name: string) => CHECK_INS.find((c) => c.name === name)!;

describe('symptom check-ins', () => {
  it('six check-ins of 15–20 questions; every red flag names real questions; every source is listed in the README', () => {
    expect(CHECK_INS.map((c) => c.name)).toEqual([
      'fever',
      'chest-pain',
      'shortness-of-breath',
      'abdominal-pain',
      'headache',
      'rash',
    ]);
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    for (const c of CHECK_INS) {
      expect(c.questions.length, c.name).toBeGreaterThanOrEqual(15);
      expect(c.questions.length, c.name).toBeLessThanOrEqual(20);
      expect(new Set(c.questions.map((q) => q.id)).size).toBe(c.questions.length);
      for (const f of c.redFlags) {
        for (const w of f.when)
          expect(
            c.questions.map((q) => q.id),
            `${f.id}: ${w.id}`,
          ).toContain(w.id);
        expect(readme, `${f.id} in the README`).toContain(`\`${f.id}\``);
      }
      for (const q of c.questions) expect(readme, `${c.name}/${q.id} in the README`).toContain(`\`${q.id}\``);
    }
    for (const key of Object.keys(SOURCES)) expect(readme, `source ${key} in the README`).toContain(key);
  });

  it('as SDC-style Questionnaires: LOINC Yes/No options carrying their points as ordinalValue, bounds on numbers', () => {
    const q = questionnaireOf(byName('fever'));
    expect(q).toMatchObject({ resourceType: 'Questionnaire', status: 'active', version: '1.0.0' });
    const rigors = q.item!.find((i) => i.linkId === 'rigors')!;
    expect(rigors.type).toBe('choice');
    expect(rigors.answerOption!.map((o) => [o.valueCoding!.code, o.valueCoding!.extension![0].valueDecimal])).toEqual([
      ['LA33-6', 2],
      ['LA32-8', 0],
    ]);
    const temperature = q.item!.find((i) => i.linkId === 'temperature')!;
    expect(temperature.type).toBe('decimal');
    expect(temperature.extension!.map((e) => e.url.split('/').at(-1))).toEqual([
      'minValue',
      'maxValue',
      'questionnaire-unit',
    ]);
  });

  it('score bands: 0–25 mild, 26–50 moderate, 51–100 serious/critical', () => {
    expect(bandOfScore(0)).toBe('mild');
    expect(bandOfScore(25)).toBe('mild');
    expect(bandOfScore(26)).toBe('moderate');
    expect(bandOfScore(50)).toBe('moderate');
    expect(bandOfScore(51)).toBe('serious-critical');
    expect(bandOfScore(100)).toBe('serious-critical');
  });

  it('points × 5, capped at 100: all "no" is 0; the bands are reached by answers', () => {
    const fever = byName('fever');
    expect(scoreResponse(fever, responseOf(fever))).toMatchObject({ score: 0, band: 'mild', redFlags: [] });
    // 38.2 °C (2) + rigors (2) + cough (1) = 5 points: 25, mild.
    expect(scoreResponse(fever, responseOf(fever, { temperature: 38.2, rigors: true, cough: true }))).toMatchObject({
      points: 5,
      score: 25,
      band: 'mild',
    });
    // + 3 days (1) = 6 points: 30, moderate.
    const moderate = responseOf(fever, { temperature: 38.2, rigors: true, cough: true, days: 3 });
    expect(scoreResponse(fever, moderate)).toMatchObject({ score: 30, band: 'moderate' });
    // 39.5 (3) + 5 days (2) + rigors (2) + racing heart (2) + vomiting (2) = 11: 55, serious/critical by score.
    const serious = responseOf(fever, {
      temperature: 39.5,
      days: 5,
      rigors: true,
      'racing-heart': true,
      vomiting: true,
    });
    expect(scoreResponse(fever, serious)).toMatchObject({ score: 55, band: 'serious-critical', redFlags: [] });
    const everything = Object.fromEntries(fever.questions.map((q) => [q.id, q.type === 'yes-no' ? true : q.max]));
    expect(scoreResponse(fever, responseOf(fever, everything)).score).toBe(100);
  });

  it('number bands, including "below"; out-of-range or missing answers score nothing and are listed', () => {
    const fever = byName('fever');
    const points = (t: number) => scoreResponse(fever, responseOf(fever, { temperature: t })).points;
    expect([points(39.5), points(39.4), points(38), points(37.9), points(36), points(35.9)]).toEqual([
      3, 2, 2, 0, 0, 2,
    ]);
    expect(scoreResponse(fever, responseOf(fever, { temperature: 99 })).unanswered).toContain('temperature');
    expect(scoreResponse(fever, responseOf(fever)).unanswered).toEqual(['temperature', 'days']);
    const breath = byName('shortness-of-breath');
    const spo2 = (v: number) => scoreResponse(breath, responseOf(breath, { spo2: v }));
    expect([spo2(96).points, spo2(95).points, spo2(93).points, spo2(92).points, spo2(91).points]).toEqual([
      0, 1, 2, 2, 4,
    ]);
    expect(spo2(91).redFlags.map((f) => f.id)).toEqual(['breath-spo2']);
  });

  it('every red flag of every check-in makes it serious/critical on its own, whatever the score', () => {
    for (const c of CHECK_INS)
      for (const flag of c.redFlags) {
        const answers = Object.fromEntries(
          flag.when.map((w) => [w.id, 'yes' in w ? true : 'atLeast' in w ? w.atLeast : w.below - 1]),
        );
        const r = scoreResponse(c, responseOf(c, answers));
        expect(r.band, `${c.name} ${flag.id}`).toBe('serious-critical');
        expect(r.redFlags.map((f) => f.id)).toContain(flag.id);
        // One condition short, that red flag is not raised.
        if (flag.when.length > 1) {
          const [first] = flag.when;
          const partial = scoreResponse(c, responseOf(c, { ...answers, [first.id]: 'yes' in first ? false : 0 }));
          expect(partial.redFlags.map((f) => f.id)).not.toContain(flag.id);
        }
      }
  });

  it("the issue's example: chest pain with breathlessness overrides a moderate score", () => {
    const chest = byName('chest-pain');
    const r = scoreResponse(chest, responseOf(chest, { 'pain-now': true, breathless: true }));
    expect(r).toMatchObject({ score: 30, scoreBand: 'moderate', band: 'serious-critical' });
    expect(r.redFlags.map((f) => f.id)).toEqual(['chest-pain-breathless']);
  });

  it('answers in nested items and as booleans count; an unknown questionnaire is not a check-in', () => {
    const chest = byName('chest-pain');
    const nested: QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      questionnaire: 'https://tributary.dev/fhir/Questionnaire/symptom-chest-pain',
      item: [{ linkId: 'group', item: [{ linkId: 'fainted', answer: [{ valueBoolean: true }] }] }],
    };
    expect(checkInOf(nested)?.name).toBe('chest-pain');
    expect(scoreResponse(chest, nested).redFlags.map((f) => f.id)).toEqual(['chest-pain-collapse']);
    expect(checkInOf({ ...nested, questionnaire: 'http://example.org/Questionnaire/phq-9' })).toBeUndefined();
    // Answers of the wrong type count as unanswered, not as yes.
    const wrong: QuestionnaireResponse = {
      ...nested,
      item: [
        { linkId: 'fainted', answer: [{ valueString: 'yes' }] },
        { linkId: 'pain-score', answer: [{ valueString: '10' }] },
        { linkId: 'tearing', answer: [{ valueCoding: { system: 'http://loinc.org', code: 'LA4489-6' } }] },
      ],
    };
    const r = scoreResponse(chest, wrong);
    expect(r).toMatchObject({ points: 0, band: 'mild', redFlags: [] });
    expect(r.unanswered).toEqual(expect.arrayContaining(['fainted', 'pain-score', 'tearing']));
  });
});
