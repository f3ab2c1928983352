import client from 'prom-client';

/** Prometheus metrics of the MQTT door. */
export interface MqttMetrics {
  /** A PUBLISH made durable (or refused), and how long storing it took before the PUBACK. */
  received(outcome: 'stored' | 'duplicate' | 'refused' | 'oversize' | 'error', seconds: number): void;
  /** A message's processing ended in this inbox state, after so long. */
  processed(state: string, seconds: number): void;
  /** A CONNECT was refused (bad credentials, rate limited, wrong client id). */
  authFailed(reason: string): void;
}

/** Registers the door's metrics; `inboxDepth` and `connections` are read at each scrape. */
export function createMqttMetrics(
  registry: client.Registry,
  inboxDepth: () => Promise<number>,
  connections: () => number,
): MqttMetrics {
  const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
  const received = new client.Histogram({
    name: 'tributary_mqtt_receive_seconds',
    help: 'Time from a PUBLISH to its storage in the inbox (the PUBACK follows), by outcome',
    labelNames: ['outcome'],
    buckets,
    registers: [registry],
  });
  const processed = new client.Histogram({
    name: 'tributary_mqtt_process_seconds',
    help: 'Time to map and write a stored MQTT message to FHIR, by resulting inbox state',
    labelNames: ['state'],
    buckets,
    registers: [registry],
  });
  const auth = new client.Counter({
    name: 'tributary_mqtt_auth_failures_total',
    help: 'MQTT connections refused, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  new client.Gauge({
    name: 'tributary_mqtt_inbox_depth',
    help: 'MQTT messages stored and not processed yet (received or waiting for a retry)',
    registers: [registry],
    async collect() {
      this.set(await inboxDepth().catch(() => Number.NaN));
    },
  });
  new client.Gauge({
    name: 'tributary_mqtt_connections',
    help: 'Devices connected to the embedded broker',
    registers: [registry],
    collect() {
      this.set(connections());
    },
  });
  return {
    received: (outcome, seconds) => received.observe({ outcome }, seconds),
    processed: (state, seconds) => processed.observe({ state }, seconds),
    authFailed: (reason) => auth.inc({ reason }),
  };
}
