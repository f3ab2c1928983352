/**
 * The shipped ingredient table: every drug the interaction, allergy-class, dose and controlled-substance tables name,
 * by RxNorm ingredient (TTY IN) code, with its ATC classes (WHO ATC/DDD index) and its US DEA schedule (21 CFR
 * 1308.12–1308.15). Sources and the review date are in ../README.md. Hand-kept rather than a library: no maintained
 * npm package ships RxNorm ingredient/class data, and the full RxNorm release is licensed per user (UMLS).
 */

export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const ATC = 'http://www.whocc.no/atc';

/** One ingredient: its RxNorm code and name, the ATC classes it belongs to, and its DEA schedule if controlled. */
export interface Ingredient {
  rxcui: string;
  name: string;
  /** ATC codes of its classes, most specific first (`J01CA` penicillins with extended spectrum, `J01C`…). */
  atc: string[];
  schedule?: 'II' | 'III' | 'IV' | 'V';
}

const rows: [string, string, string[], Ingredient['schedule']?][] = [
  ['723', 'amoxicillin', ['J01CA04', 'J01CA', 'J01C']],
  ['7980', 'penicillin G', ['J01CE01', 'J01CE', 'J01C']],
  ['7984', 'penicillin V', ['J01CE02', 'J01CE', 'J01C']],
  ['2231', 'cephalexin', ['J01DB01', 'J01DB', 'J01D']],
  ['2193', 'ceftriaxone', ['J01DD04', 'J01DD', 'J01D']],
  ['10180', 'sulfamethoxazole', ['J01EC01', 'J01E']],
  ['10829', 'trimethoprim', ['J01EA01', 'J01E']],
  ['2551', 'ciprofloxacin', ['J01MA02', 'J01MA']],
  ['21212', 'clarithromycin', ['J01FA09', 'J01FA']],
  ['4053', 'erythromycin', ['J01FA01', 'J01FA']],
  ['18631', 'azithromycin', ['J01FA10', 'J01FA']],
  ['6135', 'ketoconazole', ['J02AB02', 'J02A']],
  ['28031', 'itraconazole', ['J02AC02', 'J02A']],
  ['343047', 'atazanavir', ['J05AE08', 'J05AE']],
  ['85762', 'ritonavir', ['J05AE03', 'J05AE']],
  ['9384', 'rifampin', ['J04AB02', 'J04AB']],
  ['7646', 'omeprazole', ['A02BC01', 'A02BC']],
  ['283742', 'esomeprazole', ['A02BC05', 'A02BC']],
  ['40790', 'pantoprazole', ['A02BC02', 'A02BC']],
  ['17128', 'lansoprazole', ['A02BC03', 'A02BC']],
  ['36567', 'simvastatin', ['C10AA01', 'C10AA']],
  ['6472', 'lovastatin', ['C10AA02', 'C10AA']],
  ['83367', 'atorvastatin', ['C10AA05', 'C10AA']],
  ['4025', 'ergotamine', ['N02CA02', 'N02CA']],
  ['3418', 'dihydroergotamine', ['N02CA01', 'N02CA']],
  ['57258', 'tizanidine', ['M03BX02', 'M03BX']],
  ['42355', 'fluvoxamine', ['N06AB08', 'N06AB']],
  ['596205', 'ramelteon', ['N05CH02', 'N05CH']],
  ['6851', 'methotrexate', ['L01BA01', 'L04AX03', 'L01BA']],
  ['136411', 'sildenafil', ['G04BE03', 'G04BE']],
  ['358263', 'tadalafil', ['G04BE08', 'G04BE']],
  ['4917', 'nitroglycerin', ['C01DA02', 'C01DA']],
  ['6058', 'isosorbide dinitrate', ['C01DA08', 'C01DA']],
  ['8331', 'pimozide', ['N05AG02', 'N05AG']],
  ['10502', 'thioridazine', ['N05AC02', 'N05AC']],
  ['8123', 'phenelzine', ['N06AF03', 'N06AF']],
  ['10734', 'tranylcypromine', ['N06AF04', 'N06AF']],
  ['4493', 'fluoxetine', ['N06AB03', 'N06AB']],
  ['36437', 'sertraline', ['N06AB06', 'N06AB']],
  ['32937', 'paroxetine', ['N06AB05', 'N06AB']],
  ['6754', 'meperidine', ['N02AB02', 'N02A'], 'II'],
  ['10689', 'tramadol', ['N02AX02', 'N02A'], 'IV'],
  ['7804', 'oxycodone', ['N02AA05', 'N02A'], 'II'],
  ['7052', 'morphine', ['N02AA01', 'N02A'], 'II'],
  ['5489', 'hydrocodone', ['R05DA03', 'N02A'], 'II'],
  ['2670', 'codeine', ['R05DA04', 'N02A'], 'II'],
  ['1819', 'buprenorphine', ['N02AE01', 'N02A'], 'III'],
  ['596', 'alprazolam', ['N05BA12', 'N05BA'], 'IV'],
  ['6470', 'lorazepam', ['N05BA06', 'N05BA'], 'IV'],
  ['3322', 'diazepam', ['N05BA01', 'N05BA'], 'IV'],
  ['39993', 'zolpidem', ['N05CF02', 'N05CF'], 'IV'],
  ['187832', 'pregabalin', ['N03AX16', 'N03AX'], 'V'],
  ['51499', 'irinotecan', ['L01CE02', 'L01CE']],
  ['11289', 'warfarin', ['B01AA03', 'B01AA']],
  ['1191', 'aspirin', ['N02BA01', 'B01AC06', 'N02BA']],
  ['5640', 'ibuprofen', ['M01AE01', 'M01A']],
  ['7258', 'naproxen', ['M01AE02', 'M01A']],
  ['140587', 'celecoxib', ['M01AH01', 'M01A']],
  ['161', 'acetaminophen', ['N02BE01', 'N02BE']],
  ['6809', 'metformin', ['A10BA02', 'A10BA']],
  ['29046', 'lisinopril', ['C09AA03', 'C09AA']],
  ['52175', 'losartan', ['C09CA01', 'C09CA']],
  ['17767', 'amlodipine', ['C08CA01', 'C08CA']],
  ['6918', 'metoprolol', ['C07AB02', 'C07AB']],
  ['10582', 'levothyroxine', ['H03AA01', 'H03AA']],
  ['25480', 'gabapentin', ['N03AX12', 'N03AX']],
  ['8640', 'prednisone', ['H02AB07', 'H02AB']],
];

/** Ingredients by RxNorm code. */
export const INGREDIENTS: ReadonlyMap<string, Ingredient> = new Map(
  rows.map(([rxcui, name, atc, schedule]) => [rxcui, { rxcui, name, atc, ...(schedule ? { schedule } : {}) }]),
);

/** A clinical drug (RxNorm TTY SCD) the table maps to its ingredient and strength per unit (tablet, capsule). */
export interface ClinicalDrug {
  ingredient: string;
  strengthMg: number;
}

/** RxNorm clinical drugs (SCD) the table knows, with their ingredient and strength per dose unit. */
export const CLINICAL_DRUGS: ReadonlyMap<string, ClinicalDrug> = new Map([
  ['197361', { ingredient: '17767', strengthMg: 5 }], // amlodipine 5 MG Oral Tablet
  ['314076', { ingredient: '29046', strengthMg: 10 }], // lisinopril 10 MG Oral Tablet
  ['198211', { ingredient: '36567', strengthMg: 40 }], // simvastatin 40 MG Oral Tablet
  ['308136', { ingredient: '17767', strengthMg: 2.5 }], // amlodipine 2.5 MG Oral Tablet
]);

/** The ingredients whose name or ATC classes include `code` (an RxNorm ingredient or an ATC class code). */
export function inClass(ingredient: Ingredient, code: string): boolean {
  return ingredient.rxcui === code || ingredient.atc.includes(code);
}
