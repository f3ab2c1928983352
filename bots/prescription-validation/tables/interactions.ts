/**
 * Drug–drug interactions, built from the ONC high-priority DDI list (Phansalkar S, et al. High-priority drug–drug
 * interactions for use in electronic health records. J Am Med Inform Assoc 2012;19(5):735–43): pairs judged
 * contraindicated for concurrent use. Each side is a set of RxNorm ingredients or ATC classes of ./drugs.ts; the
 * README lists each row with its source line.
 */

/** One side of an interacting pair: RxNorm ingredient codes and/or ATC class codes. */
export type DrugSet = string[];

/** An interacting pair, its consequence and what to do. */
export interface Interaction {
  id: string;
  a: DrugSet;
  b: DrugSet;
  detail: string;
  mitigation: string;
}

const PROTEASE_INHIBITORS = ['J05AE'];
const STRONG_CYP3A4_INHIBITORS = ['J05AE', '6135', '28031', '21212', '4053'];

export const INTERACTIONS: Interaction[] = [
  {
    id: 'atazanavir-ppi',
    a: ['343047'],
    b: ['A02BC'],
    detail: 'Proton pump inhibitors markedly reduce atazanavir absorption: loss of virologic response.',
    mitigation: 'Avoid the combination; use an H2-receptor antagonist with timed dosing if acid suppression is needed.',
  },
  {
    id: 'ergot-cyp3a4-inhibitor',
    a: ['N02CA'],
    b: STRONG_CYP3A4_INHIBITORS,
    detail: 'CYP3A4 inhibition raises ergot alkaloid levels: ergotism, peripheral and cerebral ischemia.',
    mitigation: 'Contraindicated: choose a non-interacting antimicrobial or a triptan-free alternative.',
  },
  {
    id: 'statin-protease-inhibitor',
    a: ['36567', '6472'],
    b: PROTEASE_INHIBITORS,
    detail: 'Protease inhibitors raise simvastatin/lovastatin levels many-fold: myopathy and rhabdomyolysis.',
    mitigation: 'Contraindicated: use pravastatin or a low dose of rosuvastatin/atorvastatin instead.',
  },
  {
    id: 'tizanidine-cyp1a2-inhibitor',
    a: ['57258'],
    b: ['2551', '42355'],
    detail:
      'Ciprofloxacin and fluvoxamine inhibit CYP1A2: tizanidine levels rise 10-fold or more, hypotension, sedation.',
    mitigation: 'Contraindicated: choose another muscle relaxant or another antibiotic/antidepressant.',
  },
  {
    id: 'ramelteon-fluvoxamine',
    a: ['596205'],
    b: ['42355'],
    detail: 'Fluvoxamine raises ramelteon exposure about 190-fold.',
    mitigation: 'Contraindicated: choose another hypnotic or antidepressant.',
  },
  {
    id: 'methotrexate-trimethoprim',
    a: ['6851'],
    b: ['10829'],
    detail: 'Trimethoprim adds antifolate effect and reduces methotrexate clearance: bone marrow suppression.',
    mitigation: 'Avoid; choose another antibiotic, or monitor blood counts closely if unavoidable.',
  },
  {
    id: 'pde5-nitrate',
    a: ['G04BE'],
    b: ['C01DA'],
    detail: 'Phosphodiesterase-5 inhibitors with nitrates: profound, potentially fatal hypotension.',
    mitigation: 'Contraindicated: no nitrate within 24 h of sildenafil or 48 h of tadalafil.',
  },
  {
    id: 'pimozide-cyp3a4-inhibitor',
    a: ['8331'],
    b: STRONG_CYP3A4_INHIBITORS,
    detail: 'CYP3A4 inhibition raises pimozide levels: QT prolongation and torsades de pointes.',
    mitigation: 'Contraindicated: choose a non-interacting alternative.',
  },
  {
    id: 'thioridazine-cyp2d6-inhibitor',
    a: ['10502'],
    b: ['4493', '32937', '42355'],
    detail: 'CYP2D6/CYP1A2 inhibition raises thioridazine levels: QT prolongation and torsades de pointes.',
    mitigation: 'Contraindicated: choose another antipsychotic or antidepressant.',
  },
  {
    id: 'maoi-serotonergic',
    a: ['N06AF'],
    b: ['N06AB', '6754', '10689'],
    detail: 'MAO inhibitors with serotonergic drugs (SSRIs, meperidine, tramadol): serotonin syndrome.',
    mitigation: 'Contraindicated: allow the washout period (14 days after an MAOI, 5 weeks after fluoxetine).',
  },
  {
    id: 'rifampin-protease-inhibitor',
    a: ['9384'],
    b: PROTEASE_INHIBITORS,
    detail: 'Rifampin induces CYP3A4: protease inhibitor levels fall, with loss of virologic response.',
    mitigation: 'Contraindicated: use rifabutin with an adjusted dose instead.',
  },
  {
    id: 'irinotecan-cyp3a4-inhibitor',
    a: ['51499'],
    b: ['6135'],
    detail: 'Ketoconazole raises SN-38 (irinotecan’s active metabolite) exposure: severe neutropenia and diarrhea.',
    mitigation: 'Stop ketoconazole at least a week before irinotecan; do not co-administer.',
  },
];
