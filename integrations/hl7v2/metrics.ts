import client from 'prom-client';

/** Prometheus metrics of the HL7v2 door, per feed (`application|facility` as configured). */
export interface Hl7v2Metrics {
  received(feed: string): void;
  duplicate(feed: string): void;
  ack(feed: string, code: string, seconds: number): void;
  mapped(feed: string): void;
  failed(feed: string, dead: boolean): void;
}

/** Registers the door's metrics in the server's registry; `inboxDepth` is read at each scrape. */
export function createHl7v2Metrics(registry: client.Registry, inboxDepth: () => Promise<number>): Hl7v2Metrics {
  const counter = (name: string, help: string, labelNames: string[]) =>
    new client.Counter({ name, help, labelNames, registers: [registry] });
  const received = counter('tributary_hl7v2_received_total', 'HL7v2 messages received, by feed', ['feed']);
  const duplicates = counter('tributary_hl7v2_duplicates_total', 'Retransmitted HL7v2 messages, by feed', ['feed']);
  const acks = counter('tributary_hl7v2_acks_total', 'HL7v2 acknowledgments sent, by feed and code', ['feed', 'code']);
  const mapped = counter('tributary_hl7v2_mapped_total', 'HL7v2 messages mapped and written to FHIR', ['feed']);
  const failed = counter('tributary_hl7v2_failed_total', 'HL7v2 messages whose mapping failed', ['feed', 'dead']);
  const latency = new client.Histogram({
    name: 'tributary_hl7v2_ack_seconds',
    help: 'Time from a complete HL7v2 message to its acknowledgment, by feed',
    labelNames: ['feed'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new client.Gauge({
    name: 'tributary_hl7v2_inbox_depth',
    help: 'HL7v2 messages stored and not processed yet (received or waiting for a retry)',
    registers: [registry],
    async collect() {
      this.set(await inboxDepth().catch(() => Number.NaN));
    },
  });
  return {
    received: (feed) => received.inc({ feed }),
    duplicate: (feed) => duplicates.inc({ feed }),
    ack: (feed, code, seconds) => {
      acks.inc({ feed, code });
      latency.observe({ feed }, seconds);
    },
    mapped: (feed) => mapped.inc({ feed }),
    failed: (feed, dead) => failed.inc({ feed, dead: String(dead) }),
  };
}
