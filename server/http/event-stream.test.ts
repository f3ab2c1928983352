import { describe, expect, it } from 'vitest';
import { acceptsEventStream, acceptWithoutEventStream } from './event-stream.ts';

describe('Accept: text/event-stream', () => {
  it('is recognised among other media ranges, with parameters, in any case', () => {
    expect(acceptsEventStream('text/event-stream')).toBe(true);
    expect(acceptsEventStream('application/fhir+json, Text/Event-Stream;q=0.9')).toBe(true);
    expect(acceptsEventStream('application/fhir+json')).toBe(false);
    expect(acceptsEventStream('text/event-streamx')).toBe(false);
    expect(acceptsEventStream(undefined)).toBe(false);
  });

  it('is left out of the FHIR format negotiation (nothing left: the default format)', () => {
    expect(acceptWithoutEventStream('text/event-stream')).toBeUndefined();
    expect(acceptWithoutEventStream('text/event-stream, application/fhir+xml')).toBe('application/fhir+xml');
    expect(acceptWithoutEventStream('application/fhir+json')).toBe('application/fhir+json');
  });
});
