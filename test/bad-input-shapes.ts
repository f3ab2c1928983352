/*
 * The shapes of bad input the corpus test (bad-input-corpus.test.ts) sends to every route: what an attacker's fuzzer
 * or a broken client produces. Each shape is data; the test decides where it goes.
 */

/** Path segments that are not text or not even percent-encoding. */
export const BAD_SEGMENTS = [
  '%E0%A4%A',
  '%zz',
  '%',
  '%00',
  'a%00b',
  '%ED%A0%80',
  '%C0%AF',
  '%FF',
  `${'x'.repeat(5000)}`,
  '..',
  '%2e%2e',
  '$',
  '_',
  'constructor',
  '__proto__',
];

/** Query strings whose names or values are hostile or nonsense, for any route. */
export const BAD_QUERIES = [
  'constructor=1',
  'toString=1',
  '__proto__=1',
  'hasOwnProperty=1',
  'valueOf=x',
  '__proto__[polluted]=1',
  'constructor[prototype][polluted]=1',
  '%00=1',
  '%zz=%zz',
  'a=%E0%A4%A',
  '_count=%00',
  '_count=1e999999',
  '_count=-1',
  '_count=99999999999999999999',
  '_format=%00',
  '_format=constructor',
  '_pretty=%00',
  '_summary=%00',
  '_summary=constructor',
  '_elements=%00',
  '_elements=__proto__',
  '_sort=%00',
  '_sort=-constructor',
  '_include=%00',
  '_include=Patient:constructor',
  '_revinclude=*:%00',
  '_since=%00',
  '_since=99999-01-01',
  '_at=%00',
  '_type=%00',
  '_type=constructor',
  '_total=%00',
  '_cursor=%00',
  '_cursor=eyJfX3Byb3RvX18iOnt9fQ',
  'mode=%00',
  'profile=%00',
  'content=%00',
  'eventsSinceNumber=1e999999',
  'eventsSinceNumber=%00',
  'eventsSinceNumber=99999999999999999999',
  'eventsUntilNumber=-99999999999999999999',
  '_id=%00',
  `_id=${'x'.repeat(3000)}`,
];

/** Search parameters of every type (and the special ones), with resource types that have them. */
export const SEARCH_PARAMS: [string, string][] = [
  ['Patient', 'name'],
  ['Patient', 'family:exact'],
  ['Patient', 'name:contains'],
  ['Patient', 'birthdate'],
  ['Patient', 'gender'],
  ['Patient', 'gender:not'],
  ['Patient', 'identifier'],
  ['Patient', 'identifier:of-type'],
  ['Patient', 'general-practitioner'],
  ['Patient', 'general-practitioner:Practitioner'],
  ['Patient', 'general-practitioner.name'],
  ['Patient', '_id'],
  ['Patient', '_lastUpdated'],
  ['Patient', '_text'],
  ['Patient', '_content'],
  ['Patient', '_tag'],
  ['Patient', '_profile'],
  ['Patient', '_has:Observation:subject:code'],
  ['Patient', 'phone'],
  ['Patient', 'address-postalcode'],
  ['Observation', 'value-quantity'],
  ['Observation', 'code-value-quantity'],
  ['Observation', 'component-code-value-quantity'],
  ['Observation', 'code'],
  ['Observation', 'code:in'],
  ['Observation', 'code:below'],
  ['Observation', 'code:text'],
  ['Observation', 'subject'],
  ['Observation', 'subject:identifier'],
  ['Observation', 'subject:Patient.name'],
  ['Observation', 'date'],
  ['Observation', 'value-string'],
  ['Observation', 'value-date'],
  ['RiskAssessment', 'probability'],
  ['Location', 'near'],
  ['ValueSet', 'url'],
  ['ValueSet', 'url:below'],
  ['ValueSet', 'context-quantity'],
  ['Encounter', 'length'],
];

/** Search values that are hostile or out of range for some type of parameter (and fine text for others). */
export const BAD_VALUES = [
  '%00',
  'a%00b',
  '%ED%A0%80',
  '%FF%FE',
  'gt1e999999',
  '1e999999',
  '1e-999999',
  '0.1e9999999',
  'lt-1e400',
  '0e-99999',
  'ap',
  'gt',
  'eqx',
  '|',
  '||',
  '|||',
  'a|b|c|d|e',
  '$',
  ',',
  ',,,,',
  '%5C',
  '%5C%5C%5C',
  'a%5C',
  '9999-99-99',
  '0000-01-01',
  '10000-01-01',
  '-2020-01-01',
  '2020-01-01T25:61:61Z',
  '2020-02-30',
  'ge2020-01-01T00:00:00+99:99',
  `${'1'.repeat(400)}`,
  `${'x'.repeat(4000)}`,
  "'; DROP TABLE resource; --",
  '%25',
  ':',
  '/',
  'Patient/',
  'Patient/%00',
  '/Patient/1/_history/x',
  'http://',
  'urn:uuid:%00',
  '*',
  '5.0|http://unitsofmeasure.org|%00',
  '1|2|3|4',
  '42.0:-71.0|%00',
  '42:71:99999999999999999999|km',
  '42:71:10|constructor',
  '42:71:1e999999|km',
  'gt1e999999$1e999999',
  'constructor',
  '__proto__',
];

/** Header sets with junk in the headers a FHIR request may carry. */
export const BAD_HEADERS: Record<string, string>[] = [
  { 'if-none-exist': '%zz' },
  { 'if-none-exist': '_id=%00' },
  { 'if-none-exist': 'name=%ED%A0%80' },
  { 'if-none-exist': '&&&=' },
  { 'if-none-exist': 'constructor=1&__proto__=2' },
  { 'if-none-exist': 'identifier=a|%00' },
  { 'if-none-exist': 'probability=gt1e999999' },
  { 'if-none-exist': 'Patient?' },
  { 'if-none-exist': `_id=${'x'.repeat(3000)}` },
  { 'if-none-match': '*' },
  { 'if-none-match': 'W/"x"' },
  { 'if-none-match': 'W/"99999999999999999999"' },
  { 'if-none-match': '"1", junk' },
  { 'if-match': 'W/"x"' },
  { 'if-match': 'W/"99999999999999999999"' },
  { 'if-match': '*' },
  { 'if-modified-since': 'not a date' },
  { 'if-modified-since': 'Sat, 01 Jan 99999 00:00:00 GMT' },
  { prefer: 'return=%00, handling=constructor' },
  { prefer: 'respond-async' },
  { accept: 'constructor/__proto__' },
  { accept: 'application/fhir+json; q=1e999999' },
  { 'x-request-id': 'x'.repeat(5000) },
];

/** JSON bodies (as text) for writes: strings and numbers no resource may hold, hostile keys, nonsense. */
export function badBodies(type: string, id?: string): string[] {
  const head = `"resourceType":"${type}"${id ? `,"id":"${id}"` : ''}`;
  return [
    `{${head},"language":"a\\u0000b"}`,
    `{${head},"language":"\\ud800"}`,
    `{${head},"language":"\\udfff\\ud800"}`,
    `{${head},"extension":[{"url":"http://x","valueDecimal":1e999999}]}`,
    `{${head},"extension":[{"url":"http://x","valueDecimal":0.1e9999999}]}`,
    `{${head},"extension":[{"url":"http://x","valueDecimal":1e-999999}]}`,
    `{${head},"extension":[{"url":"http://x","valueInteger":99999999999999999999}]}`,
    `{${head},"extension":[{"url":"http://x","valueInteger":1.5}]}`,
    `{${head},"extension":[{"url":"http://x\\u0000","valueString":"x"}]}`,
    `{${head},"text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\"><script>alert(1)</script></div>"}}`,
    `{${head},"text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\"><img src=\\"x\\" onerror=\\"alert(1)\\"/></div>"}}`,
    `{${head},"text":{"status":"generated","div":"<div><p>unclosed</div>"}}`,
    `{${head},"__proto__":{"polluted":true}}`,
    `{${head},"constructor":{"prototype":{"polluted":true}}}`,
    `{${head},"meta":{"tag":[{"code":"\\u0000"}]}}`,
    `{${head},"\\u0000":1}`,
    `{"resourceType":"\\u0000"}`,
    `{"resourceType":"constructor"}`,
    `{"resourceType":"__proto__"}`,
    '[{"op":"add","path":"/language","value":"\\u0000"}]',
    '{"resourceType":"Parameters","parameter":[{"name":"delivery","valueString":"99999999999999999999"},{"name":"eventNumber","valueInteger":1e999999}]}',
    '{"resourceType":"Parameters","parameter":[{"name":"resource","resource":{"resourceType":"Patient","language":"\\u0000"}},null]}',
    'null',
    '{}',
  ];
}

/** Bundle entries hitting every shape above that an entry can carry; in a batch each must answer below 500. */
export function badEntries(): unknown[] {
  const entries: unknown[] = [];
  for (const segment of BAD_SEGMENTS) entries.push({ request: { method: 'GET', url: `Patient/${segment}` } });
  for (const query of BAD_QUERIES) entries.push({ request: { method: 'GET', url: `Patient?${query}` } });
  for (const value of BAD_VALUES)
    entries.push({ request: { method: 'GET', url: `RiskAssessment?probability=${value}` } });
  const fields: Record<string, string> = {
    'if-none-exist': 'ifNoneExist',
    'if-none-match': 'ifNoneMatch',
    'if-match': 'ifMatch',
    'if-modified-since': 'ifModifiedSince',
  };
  for (const headers of BAD_HEADERS) {
    const [name, value] = Object.entries(headers)[0];
    if (fields[name])
      entries.push({
        resource: { resourceType: 'Patient', id: 'p1' },
        request: { method: 'PUT', url: 'Patient/p1', [fields[name]]: value },
      });
  }
  for (const body of badBodies('Patient')) {
    const resource = JSON.parse(body) as unknown;
    if (resource && typeof resource === 'object' && !Array.isArray(resource))
      entries.push({ resource, request: { method: 'POST', url: 'Patient' } });
  }
  entries.push({ request: { method: 'GET', url: 'Patient?name=a\u0000b' } });
  entries.push({ request: { method: 'DELETE', url: 'Patient?constructor=1' } });
  entries.push({ request: { method: 'CONSTRUCTOR', url: 'Patient' } });
  entries.push({ request: { url: 'Patient' } });
  entries.push(null, 'nonsense', 42);
  return entries;
}
