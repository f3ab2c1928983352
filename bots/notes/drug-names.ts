/**
 * How the value checker recognises a drug name in a draft: a word in a list of common generic names, or one ending in
 * a USAN/INN stem (WHO "The use of stems in the selection of INN", 2018; USAN Council stem list). A name so
 * recognised must appear in the encounter's data. No library ships such a list for JavaScript, so it lives here.
 */
const GENERIC_NAMES = `
acetaminophen paracetamol aspirin ibuprofen naproxen meloxicam ketorolac diclofenac celecoxib indomethacin
insulin metformin glipizide glyburide glimepiride sitagliptin empagliflozin dapagliflozin liraglutide semaglutide
warfarin heparin enoxaparin apixaban rivaroxaban dabigatran clopidogrel ticagrelor prasugrel alteplase
digoxin amiodarone furosemide bumetanide torsemide hydrochlorothiazide chlorthalidone spironolactone
lisinopril enalapril ramipril losartan valsartan amlodipine nifedipine diltiazem verapamil hydralazine clonidine
metoprolol atenolol carvedilol propranolol labetalol nitroglycerin isosorbide
simvastatin atorvastatin rosuvastatin pravastatin ezetimibe
levothyroxine methimazole propylthiouracil
albuterol salbutamol salmeterol formoterol tiotropium ipratropium fluticasone budesonide beclomethasone montelukast
prednisone prednisolone methylprednisolone dexamethasone hydrocortisone
penicillin amoxicillin ampicillin clavulanate piperacillin tazobactam cephalexin cefazolin ceftriaxone cefuroxime
cefdinir azithromycin clarithromycin erythromycin doxycycline minocycline tetracycline ciprofloxacin levofloxacin
moxifloxacin nitrofurantoin trimethoprim sulfamethoxazole metronidazole clindamycin vancomycin gentamicin linezolid
fluconazole nystatin acyclovir valacyclovir oseltamivir remdesivir
cetirizine loratadine fexofenadine diphenhydramine hydroxyzine promethazine
ondansetron metoclopramide prochlorperazine omeprazole pantoprazole esomeprazole lansoprazole ranitidine famotidine
docusate senna sennosides bisacodyl lactulose loperamide polyethylene
sertraline fluoxetine paroxetine citalopram escitalopram venlafaxine duloxetine bupropion mirtazapine trazodone
amitriptyline nortriptyline lithium quetiapine olanzapine risperidone aripiprazole haloperidol
lorazepam diazepam alprazolam clonazepam midazolam zolpidem
gabapentin pregabalin levetiracetam phenytoin carbamazepine valproate lamotrigine topiramate
morphine hydromorphone oxycodone hydrocodone fentanyl tramadol meperidine codeine methadone buprenorphine naloxone
naltrexone nicotine
cyclobenzaprine baclofen tizanidine methocarbamol
methotrexate hydroxychloroquine allopurinol colchicine febuxostat
tamsulosin finasteride oxybutynin sildenafil tadalafil
estradiol progesterone medroxyprogesterone norethindrone levonorgestrel ethinyl drospirenone etonogestrel
alendronate alendronic calcitriol cholecalciferol ergocalciferol
epinephrine norepinephrine dopamine dobutamine vasopressin atropine adenosine
donepezil memantine rivastigmine
cisplatin carboplatin paclitaxel docetaxel doxorubicin cyclophosphamide tamoxifen letrozole anastrozole
`
  .split(/\s+/)
  .filter(Boolean);

const NAMES: ReadonlySet<string> = new Set(GENERIC_NAMES);

/** Stems that end generic names and (nearly) no English word. */
const STEMS =
  /(?:cillin|mycin|micin|cycline|floxacin|pril|sartan|olol|dipine|vastatin|prazole|tidine|conazole|ciclovir|navir|previr|mab|tinib|parin|xaban|gatran|gliptin|gliflozin|glitazone|formin|lukast|triptan|oxetine|azepam|azolam|codone|profen|fenac|coxib|semide|thiazide|buterol|moterol|tropium|setron|barbital|trexate|platin|rubicin|olone|nisone|afil|dronate|glutide|zosin|teplase)$/;

/** English words a stem would take for a drug. */
const NOT_DRUGS: ReadonlySet<string> = new Set(['april']);

/** Whether a (lower-case) word is a drug name. */
export function isDrugName(word: string): boolean {
  if (word.length < 4 || NOT_DRUGS.has(word)) return false;
  return NAMES.has(word) || STEMS.test(word) || word.startsWith('cef');
}
