import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';

/**
 * Issue 13 item 8 (read side): older versions stored strings with lone surrogates or NUL, and numbers such as
 * `1e999999`, which break a `jsonb` cast; every `_text` search of the type (and system `_text`) then answered 500.
 * Such rows are written here with SQL, as JSON.stringify wrote them; `_text` and `_content` still answer, and find
 * them by their narrative.
 */
let server: Tributary;

const div = (words: string) => `<div xmlns=\\"http://www.w3.org/1999/xhtml\\">${words}</div>`;
/** Stored JSON text, exactly as the store wrote it (JSON.stringify escapes lone surrogates and NUL as \u…). */
const POISONED: [id: string, json: string][] = [
  [
    'surrogate',
    `{"resourceType":"Basic","id":"surrogate","code":{"text":"\\ud800"},"text":{"status":"generated","div":"${div('quartz lone')}"}}`,
  ],
  [
    'nul',
    `{"resourceType":"Basic","id":"nul","code":{"text":"a\\u0000b"},"text":{"status":"generated","div":"${div('quartz nul\\u0000byte')}"}}`,
  ],
  [
    'huge',
    `{"resourceType":"Basic","id":"huge","extension":[{"url":"http://example.org/n","valueDecimal":1e999999}],"code":{"text":"n"},"text":{"status":"generated","div":"${div('quartz huge')}"}}`,
  ],
  [
    'in-div',
    `{"resourceType":"Basic","id":"in-div","code":{"text":"d"},"text":{"status":"generated","div":"${div('quartz \\udc00 low \\ud83d\\ude00 pair')}"}}`,
  ],
  [
    'backslash',
    `{"resourceType":"Basic","id":"backslash","code":{"text":"\\\\ud800 is text"},"text":{"status":"generated","div":"${div('quartz \\\\u0000 as text')}"}}`,
  ],
];

beforeAll(async () => {
  server = await startTestServer();
  await fhir(server, 'PUT', 'Basic/clean', {
    resourceType: 'Basic',
    id: 'clean',
    code: { text: 'c' },
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">quartz clean</div>' },
  });
  for (const [id, json] of POISONED) {
    JSON.parse(json); // each row is valid JSON text, as stored
    await server.repo.query(
      `INSERT INTO resource (resource_type, id, version_id, last_updated, content) VALUES ('Basic', $1, 1, now(), $2)`,
      [id, json],
    );
  }
});
afterAll(async () => {
  await server?.close();
});

const ids = (body: any) =>
  (body.entry ?? [])
    .filter((e: any) => e.search?.mode === 'match')
    .map((e: any) => e.resource.id)
    .sort();

describe('_text and _content over content older versions stored', () => {
  it('the rows break a jsonb cast (the cause of the 500s)', async () => {
    for (const [id] of POISONED.filter(([id]) => id !== 'backslash')) {
      const cast = server.repo.query(`SELECT content::jsonb FROM resource WHERE resource_type = 'Basic' AND id = $1`, [
        id,
      ]);
      await expect(cast, id).rejects.toThrow();
    }
  });

  it('type _text answers and finds every row by its narrative', async () => {
    const res = await fhir(server, 'GET', 'Basic?_text=quartz');
    expect(res.status).toBe(200);
    expect(ids(res.body)).toEqual(['backslash', 'clean', 'huge', 'in-div', 'nul', 'surrogate']);
  });

  it('reads the narrative around the unreadable escapes', async () => {
    expect(ids((await fhir(server, 'GET', 'Basic?_text=byte')).body)).toEqual(['nul']);
    expect(ids((await fhir(server, 'GET', 'Basic?_text=pair')).body)).toEqual(['in-div']);
    expect(ids((await fhir(server, 'GET', 'Basic?_text=u0000')).body)).toEqual(['backslash']);
  });

  it('system _text and _content answer', async () => {
    const system = await fhir(server, 'GET', '?_text=quartz&_type=Basic,Patient');
    expect(system.status).toBe(200);
    expect(ids(system.body)).toHaveLength(6);
    const all = await fhir(server, 'GET', '?_text=quartz');
    expect(all.status).toBe(200);
    expect(ids(all.body)).toHaveLength(6);
    const content = await fhir(server, 'GET', 'Basic?_content=quartz');
    expect(content.status).toBe(200);
    expect(ids(content.body)).toHaveLength(6);
  });
});
