/**
 * The six symptom check-ins (issue 18): their questions, the points each answer adds, and the red flags that make a
 * check-in serious/critical whatever its score. Every question and red flag names its source (`SOURCES`, listed with
 * references in bots/triage/README.md). The points are this product's weighting of the sources' risk features, not a
 * validated instrument: a check-in is a triage aid, not a diagnosis.
 */

/** Guidelines the questions and red flags come from (full references in the README). */
export const SOURCES = {
  NG51: 'NICE NG51 Suspected sepsis: recognition, diagnosis and early management (2016, updated 2024)',
  NG240: 'NICE NG240 Meningitis (bacterial) and meningococcal disease (2024)',
  CG151: 'NICE CG151 Neutropenic sepsis (2012, updated 2020)',
  NG143: 'NICE NG143 Fever in under 5s (2019, updated 2021)',
  CG95: 'NICE CG95 Recent-onset chest pain of suspected cardiac origin (2010, updated 2016)',
  AHA2021: '2021 AHA/ACC Guideline for the Evaluation and Diagnosis of Chest Pain (Circulation 2021;144:e368–e454)',
  NG158:
    'NICE NG158 Venous thromboembolic diseases: diagnosis, management and thrombophilia testing (2020, updated 2023)',
  BTS158: 'BTS/SIGN 158 British guideline on the management of asthma (2019): acute severe and life-threatening asthma',
  NG106: 'NICE NG106 Chronic heart failure in adults (2018)',
  NG138: 'NICE NG138 Pneumonia (community-acquired): antimicrobial prescribing (2019)',
  RCUK2021: 'Resuscitation Council UK, Emergency treatment of anaphylaxis (2021)',
  NEWS2: 'Royal College of Physicians, National Early Warning Score 2 (2017), SpO2 scale 1',
  CG141: 'NICE CG141 Acute upper gastrointestinal bleeding in over 16s (2012, updated 2016)',
  NG126: 'NICE NG126 Ectopic pregnancy and miscarriage (2019, updated 2023)',
  NG156: 'NICE NG156 Abdominal aortic aneurysm: diagnosis and management (2020)',
  WSES2020: 'WSES Jerusalem guidelines on acute appendicitis (World J Emerg Surg 2020;15:27)',
  WSES2018: 'Bologna guidelines on adhesive small bowel obstruction, WSES 2017 update (World J Emerg Surg 2018;13:24)',
  TG18: 'Tokyo Guidelines 2018: acute cholangitis (J Hepatobiliary Pancreat Sci 2018;25:17–30)',
  NG12: 'NICE NG12 Suspected cancer: recognition and referral (2015, updated 2023)',
  CG150: 'NICE CG150 Headaches in over 12s: diagnosis and management (2012, updated 2021), section 1.1',
  NG128: 'NICE NG128 Stroke and transient ischaemic attack in over 16s (2019, updated 2022)',
  NG232: 'NICE NG232 Head injury: assessment and early management (2023)',
  BSR2020: 'BSR guideline on diagnosis and treatment of giant cell arteritis (Rheumatology 2021;60:e129–e150)',
  NG133: 'NICE NG133 Hypertension in pregnancy (2019, updated 2023)',
  BAD2016:
    'BAD UK guidelines for Stevens–Johnson syndrome/toxic epidermal necrolysis (Br J Dermatol 2016;174:1194–1227)',
  NG141: 'NICE NG141 Cellulitis and erysipelas: antimicrobial prescribing (2019)',
  CKS_SHINGLES: 'NICE CKS Shingles (2024): herpes zoster ophthalmicus needs same-day assessment',
} as const;
export type Source = keyof typeof SOURCES;

/**
 * A question: `yes` adds `points` when answered yes; a number adds the points of the first band it reaches
 * (`bands`: [at least, points], highest first; `below` for values under a bound).
 */
export type Question =
  | { id: string; text: string; type: 'yes-no'; points: number; source: Source }
  | {
      id: string;
      text: string;
      type: 'integer' | 'decimal';
      unit?: string;
      min: number;
      max: number;
      bands: { atLeast?: number; below?: number; points: number }[];
      source: Source;
    };

/** A condition on one answer: yes, or a number at least / below a bound. */
export type Condition = { id: string; yes: true } | { id: string; atLeast: number } | { id: string; below: number };

/** A red flag: all of its conditions met → serious/critical, whatever the score. */
export interface RedFlag {
  id: string;
  text: string;
  when: Condition[];
  source: Source;
}

export interface CheckIn {
  /** `symptom-<name>`: Questionnaire id and the last part of its canonical URL. */
  name: string;
  title: string;
  questions: Question[];
  redFlags: RedFlag[];
}

const yes = (id: string, text: string, points: number, source: Source): Question => ({
  id,
  text,
  type: 'yes-no',
  points,
  source,
});
const PAIN_SCORE = (source: Source): Question => ({
  id: 'pain-score',
  text: 'How bad is the pain now, from 0 (none) to 10 (worst imaginable)?',
  type: 'integer',
  min: 0,
  max: 10,
  bands: [
    { atLeast: 8, points: 3 },
    { atLeast: 5, points: 2 },
    { atLeast: 1, points: 1 },
  ],
  source,
});
const when = (...ids: string[]): Condition[] => ids.map((id) => ({ id, yes: true }));

export const CHECK_INS: CheckIn[] = [
  {
    name: 'fever',
    title: 'Fever check-in',
    questions: [
      {
        id: 'temperature',
        text: 'What is the highest temperature you measured in the last 24 hours?',
        type: 'decimal',
        unit: 'Cel',
        min: 30,
        max: 45,
        bands: [
          { atLeast: 39.5, points: 3 },
          { atLeast: 38, points: 2 },
          { below: 36, points: 2 },
        ],
        source: 'NG51',
      },
      {
        id: 'days',
        text: 'For how many days have you had a fever?',
        type: 'integer',
        min: 0,
        max: 60,
        bands: [
          { atLeast: 5, points: 2 },
          { atLeast: 3, points: 1 },
        ],
        source: 'NG143',
      },
      yes('rigors', 'Have you had shaking chills (rigors)?', 2, 'NG51'),
      yes('confusion', 'Are you newly confused, very drowsy or hard to wake?', 4, 'NG51'),
      yes('fast-breathing', 'Are you breathing much faster than usual or struggling for breath?', 3, 'NG51'),
      yes('non-blanching-rash', 'Do you have a rash that does not fade when a glass is pressed on it?', 4, 'NG240'),
      yes('stiff-neck', 'Do you have a stiff neck (it hurts to put your chin on your chest)?', 3, 'NG240'),
      yes('headache', 'Do you have a severe headache?', 1, 'NG240'),
      yes('light-hurts', 'Does bright light hurt your eyes?', 1, 'NG240'),
      yes('no-urine', 'Have you passed no urine in the last 18 hours?', 4, 'NG51'),
      yes('mottled-skin', 'Is your skin mottled, ashen or blue, or are your lips blue?', 4, 'NG51'),
      yes('racing-heart', 'Is your heart racing?', 2, 'NG51'),
      yes('recent-surgery', 'Have you had surgery or an invasive procedure in the last 6 weeks?', 2, 'NG51'),
      yes('chemotherapy', 'Are you having chemotherapy or treatment that weakens your immune system?', 3, 'CG151'),
      yes('over-75', 'Are you 75 or older?', 1, 'NG51'),
      yes('vomiting', 'Are you vomiting and unable to keep fluids down?', 2, 'NG51'),
      yes('cough', 'Do you have a cough with coloured phlegm?', 1, 'NG138'),
      yes('urinary', 'Does it burn or hurt when you pass urine?', 1, 'NG51'),
    ],
    redFlags: [
      { id: 'fever-confusion', text: 'New confusion or drowsiness', when: when('confusion'), source: 'NG51' },
      {
        id: 'fever-rash',
        text: 'A rash that does not fade under a glass',
        when: when('non-blanching-rash'),
        source: 'NG240',
      },
      { id: 'fever-no-urine', text: 'No urine for 18 hours', when: when('no-urine'), source: 'NG51' },
      { id: 'fever-mottled', text: 'Mottled, ashen or blue skin or lips', when: when('mottled-skin'), source: 'NG51' },
      {
        id: 'fever-meningism',
        text: 'Stiff neck with a severe headache',
        when: when('stiff-neck', 'headache'),
        source: 'NG240',
      },
      {
        id: 'fever-neutropenic',
        text: 'A temperature of 38 °C or more during chemotherapy',
        when: [
          { id: 'chemotherapy', yes: true },
          { id: 'temperature', atLeast: 38 },
        ],
        source: 'CG151',
      },
    ],
  },
  {
    name: 'chest-pain',
    title: 'Chest pain check-in',
    questions: [
      yes('pain-now', 'Do you have chest pain right now?', 3, 'CG95'),
      yes('last-12-hours', 'Did the pain start in the last 12 hours?', 2, 'CG95'),
      PAIN_SCORE('AHA2021'),
      yes('pressure', 'Does it feel like pressure, tightness, squeezing or heaviness?', 2, 'CG95'),
      yes('radiates', 'Does the pain spread to your arm, jaw, neck or back?', 2, 'CG95'),
      yes('breathless', 'Are you short of breath?', 3, 'CG95'),
      yes('sweating', 'Are you sweaty or clammy?', 3, 'CG95'),
      yes('nausea', 'Do you feel sick or have you vomited?', 1, 'CG95'),
      yes('fainted', 'Have you fainted, collapsed or nearly passed out?', 4, 'AHA2021'),
      yes('over-15-minutes', 'Has the pain lasted longer than 15 minutes?', 2, 'CG95'),
      yes('exertion', 'Does it come on with exercise and ease with rest?', 2, 'CG95'),
      yes('coughing-blood', 'Are you coughing up blood?', 3, 'NG158'),
      yes('heart-disease', 'Have you had a heart attack, angina or a stent?', 2, 'CG95'),
      yes('risk-factors', 'Do you have diabetes, high blood pressure or high cholesterol, or do you smoke?', 1, 'CG95'),
      yes('clot-risk', 'Recent surgery, a long journey, or one swollen painful leg?', 2, 'NG158'),
      yes('tearing', 'Is it a sudden, tearing pain going through to your back?', 4, 'AHA2021'),
      yes('palpitations', 'Is your heartbeat irregular or pounding?', 1, 'AHA2021'),
    ],
    redFlags: [
      {
        id: 'chest-pain-breathless',
        text: 'Chest pain now with breathlessness',
        when: when('pain-now', 'breathless'),
        source: 'CG95',
      },
      {
        id: 'chest-pain-sweating',
        text: 'Chest pain now with sweating',
        when: when('pain-now', 'sweating'),
        source: 'CG95',
      },
      {
        id: 'chest-pain-radiating',
        text: 'Chest pain now spreading to the arm, jaw, neck or back',
        when: when('pain-now', 'radiates'),
        source: 'CG95',
      },
      { id: 'chest-pain-collapse', text: 'Fainting or collapse', when: when('fainted'), source: 'AHA2021' },
      { id: 'chest-pain-tearing', text: 'Sudden tearing pain to the back', when: when('tearing'), source: 'AHA2021' },
    ],
  },
  {
    name: 'shortness-of-breath',
    title: 'Shortness of breath check-in',
    questions: [
      yes('sudden', 'Did the breathlessness come on suddenly (minutes to hours)?', 2, 'NG158'),
      yes('at-rest', 'Are you breathless sitting still?', 3, 'BTS158'),
      yes('sentences', 'Are you too breathless to finish a sentence?', 4, 'BTS158'),
      yes('blue-lips', 'Are your lips or face blue or grey?', 4, 'BTS158'),
      yes('chest-pain', 'Do you have chest pain?', 3, 'CG95'),
      {
        id: 'spo2',
        text: 'If you have a pulse oximeter: what is your oxygen level (%)?',
        type: 'integer',
        unit: '%',
        min: 50,
        max: 100,
        bands: [
          { below: 92, points: 4 },
          { below: 94, points: 2 },
          { below: 96, points: 1 },
        ],
        source: 'NEWS2',
      },
      yes('wheeze', 'Are you wheezing?', 1, 'BTS158'),
      yes('asthma-copd', 'Do you have asthma or COPD?', 1, 'BTS158'),
      yes('inhaler-failing', 'Is your reliever inhaler not helping, or needed more than every 4 hours?', 3, 'BTS158'),
      yes('coughing-blood', 'Are you coughing up blood?', 3, 'NG158'),
      yes('leg-swelling', 'Is one leg swollen, red or painful?', 3, 'NG158'),
      yes('orthopnoea', 'Are your ankles swollen, or do you wake at night breathless?', 2, 'NG106'),
      yes('fever', 'Do you have a fever?', 2, 'NG138'),
      yes('confusion', 'Are you confused, exhausted or very drowsy?', 4, 'BTS158'),
      yes('clot-risk', 'Recent surgery, a hospital stay, a long journey or a plaster cast?', 2, 'NG158'),
      yes('pregnant', 'Are you pregnant or did you give birth in the last 6 weeks?', 2, 'NG158'),
      yes('swelling-throat', 'Is your tongue, lips or throat swelling, or did a rash appear suddenly?', 4, 'RCUK2021'),
    ],
    redFlags: [
      { id: 'breath-sentences', text: 'Unable to finish sentences', when: when('sentences'), source: 'BTS158' },
      { id: 'breath-cyanosis', text: 'Blue or grey lips or face', when: when('blue-lips'), source: 'BTS158' },
      { id: 'breath-spo2', text: 'Oxygen level below 92 %', when: [{ id: 'spo2', below: 92 }], source: 'BTS158' },
      {
        id: 'breath-confusion',
        text: 'Confusion, exhaustion or drowsiness',
        when: when('confusion'),
        source: 'BTS158',
      },
      {
        id: 'breath-chest-pain',
        text: 'Breathless at rest with chest pain',
        when: when('at-rest', 'chest-pain'),
        source: 'CG95',
      },
      {
        id: 'breath-anaphylaxis',
        text: 'Swelling of the tongue, lips or throat',
        when: when('swelling-throat'),
        source: 'RCUK2021',
      },
    ],
  },
  {
    name: 'abdominal-pain',
    title: 'Abdominal pain check-in',
    questions: [
      PAIN_SCORE('WSES2020'),
      yes('sudden', 'Did severe pain start suddenly?', 3, 'NG156'),
      yes('worsening', 'Is the pain constant and getting worse?', 2, 'WSES2020'),
      yes('migrated', 'Did it start around the belly button and move to the lower right?', 3, 'WSES2020'),
      yes('rigid', 'Is your belly hard, or does moving or coughing make the pain much worse?', 4, 'WSES2020'),
      yes('vomit-blood', 'Have you vomited blood or something like coffee grounds?', 4, 'CG141'),
      yes('black-stool', 'Are your stools black and tarry, or is there blood in them?', 3, 'CG141'),
      yes('fever', 'Do you have a fever?', 2, 'WSES2020'),
      yes('vomiting', 'Are you vomiting and unable to keep fluids down?', 2, 'WSES2018'),
      yes('obstruction', 'Is your belly swollen and have you passed no stool or wind?', 3, 'WSES2018'),
      yes('pregnant', 'Could you be pregnant, or is your period late?', 2, 'NG126'),
      yes('fainted', 'Have you fainted or felt faint on standing?', 3, 'NG126'),
      yes('back', 'Does the pain spread to your back?', 2, 'NG156'),
      yes('jaundice', 'Are your skin or the whites of your eyes yellow?', 2, 'TG18'),
      yes('urinary', 'Does it hurt to pass urine, or is there blood in it?', 1, 'WSES2020'),
      yes('weight-loss', 'Have you lost weight without trying?', 1, 'NG12'),
      {
        id: 'days',
        text: 'For how many days have you had this pain?',
        type: 'integer',
        min: 0,
        max: 365,
        bands: [{ atLeast: 7, points: 1 }],
        source: 'NG12',
      },
    ],
    redFlags: [
      { id: 'abdomen-peritonism', text: 'A hard belly or pain on moving', when: when('rigid'), source: 'WSES2020' },
      { id: 'abdomen-haematemesis', text: 'Vomiting blood', when: when('vomit-blood'), source: 'CG141' },
      { id: 'abdomen-melaena', text: 'Black, tarry or bloody stools', when: when('black-stool'), source: 'CG141' },
      {
        id: 'abdomen-ectopic',
        text: 'Possible pregnancy with fainting',
        when: when('pregnant', 'fainted'),
        source: 'NG126',
      },
      {
        id: 'abdomen-aneurysm',
        text: 'Sudden pain spreading to the back',
        when: when('sudden', 'back'),
        source: 'NG156',
      },
      {
        id: 'abdomen-cholangitis',
        text: 'Yellow skin or eyes with a fever',
        when: when('jaundice', 'fever'),
        source: 'TG18',
      },
    ],
  },
  {
    name: 'headache',
    title: 'Headache check-in',
    questions: [
      yes('thunderclap', 'Did it start suddenly and reach its worst within 5 minutes?', 5, 'CG150'),
      PAIN_SCORE('CG150'),
      yes('fever', 'Do you have a fever?', 2, 'NG240'),
      yes('stiff-neck', 'Do you have a stiff neck?', 3, 'NG240'),
      yes('non-blanching-rash', 'Do you have a rash that does not fade when a glass is pressed on it?', 4, 'NG240'),
      yes('neuro-deficit', 'Any new weakness, numbness, a drooping face or trouble speaking?', 5, 'NG128'),
      yes('confusion', 'Are you confused, or is your memory or behaviour different?', 4, 'CG150'),
      yes('head-injury', 'Did you hit your head in the last 7 days?', 3, 'NG232'),
      yes('vomiting', 'Have you vomited?', 1, 'CG150'),
      yes('vision', 'Have you lost vision or do you see double?', 3, 'CG150'),
      yes('jaw-scalp', 'Are you over 50 with jaw pain on chewing or a tender scalp?', 3, 'BSR2020'),
      yes('posture', 'Is it worse lying down, on coughing or straining, or does it wake you?', 2, 'CG150'),
      yes('immunity', 'Do you have cancer, HIV or a weakened immune system?', 3, 'CG150'),
      yes('pregnant', 'Are you pregnant or did you give birth in the last 6 weeks?', 2, 'NG133'),
      yes('new-over-50', 'Is this a new kind of headache and are you over 50?', 2, 'CG150'),
      yes('light-hurts', 'Does bright light hurt your eyes?', 1, 'NG240'),
    ],
    redFlags: [
      {
        id: 'headache-thunderclap',
        text: 'Sudden headache, worst within 5 minutes',
        when: when('thunderclap'),
        source: 'CG150',
      },
      { id: 'headache-meningism', text: 'Fever with a stiff neck', when: when('fever', 'stiff-neck'), source: 'CG150' },
      {
        id: 'headache-rash',
        text: 'A rash that does not fade under a glass',
        when: when('non-blanching-rash'),
        source: 'NG240',
      },
      {
        id: 'headache-neuro',
        text: 'New weakness, numbness or speech trouble',
        when: when('neuro-deficit'),
        source: 'NG128',
      },
      {
        id: 'headache-confusion',
        text: 'New confusion or change in behaviour',
        when: when('confusion'),
        source: 'CG150',
      },
      {
        id: 'headache-head-injury',
        text: 'Headache and vomiting after a head injury',
        when: when('head-injury', 'vomiting'),
        source: 'NG232',
      },
      {
        id: 'headache-gca',
        text: 'Over 50 with jaw pain or a tender scalp and vision loss',
        when: when('jaw-scalp', 'vision'),
        source: 'BSR2020',
      },
    ],
  },
  {
    name: 'rash',
    title: 'Rash check-in',
    questions: [
      yes('non-blanching', 'Does the rash stay when a glass is pressed on it?', 4, 'NG240'),
      yes('fever', 'Do you have a fever?', 2, 'NG240'),
      yes('swelling', 'Are your lips, tongue, face or throat swelling?', 4, 'RCUK2021'),
      yes('breathing', 'Are you wheezing or finding it hard to breathe?', 4, 'RCUK2021'),
      yes('hives', 'Is it raised, itchy weals (hives)?', 1, 'RCUK2021'),
      yes('blisters', 'Is the skin blistering or peeling?', 3, 'BAD2016'),
      yes('mucosal', 'Do you have sores in the mouth, eyes or genitals?', 3, 'BAD2016'),
      yes('new-medicine', 'Did you start a new medicine in the last 8 weeks?', 2, 'BAD2016'),
      yes('spreading', 'Is the rash spreading quickly?', 2, 'NG141'),
      yes('hot-red', 'Is an area red, hot, swollen and painful?', 2, 'NG141'),
      yes('unwell', 'Do you feel very unwell, drowsy or confused?', 4, 'NG51'),
      yes('eye', 'Is the rash near your eye or on the tip of your nose, with a painful red eye?', 3, 'CKS_SHINGLES'),
      PAIN_SCORE('NG141'),
      yes('pregnant', 'Are you pregnant?', 1, 'BAD2016'),
      yes('immunity', 'Do you have a weakened immune system?', 2, 'NG51'),
      {
        id: 'days',
        text: 'For how many days have you had the rash?',
        type: 'integer',
        min: 0,
        max: 365,
        bands: [{ atLeast: 14, points: 1 }],
        source: 'NG141',
      },
    ],
    redFlags: [
      {
        id: 'rash-meningococcal',
        text: 'A rash that does not fade under a glass, with a fever',
        when: when('non-blanching', 'fever'),
        source: 'NG240',
      },
      {
        id: 'rash-anaphylaxis-swelling',
        text: 'Swelling of the lips, tongue or throat',
        when: when('swelling'),
        source: 'RCUK2021',
      },
      {
        id: 'rash-anaphylaxis-breathing',
        text: 'A rash with breathing difficulty',
        when: when('breathing'),
        source: 'RCUK2021',
      },
      {
        id: 'rash-sjs-ten',
        text: 'Blistering or peeling skin with sores in the mouth, eyes or genitals',
        when: when('blisters', 'mucosal'),
        source: 'BAD2016',
      },
      { id: 'rash-sepsis', text: 'Very unwell, drowsy or confused', when: when('unwell'), source: 'NG51' },
    ],
  },
];
