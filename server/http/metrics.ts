import type pg from 'pg';
import client from 'prom-client';

/** Prometheus metrics of one server instance (its own registry, so several instances can live in one process). */
export interface Metrics {
  registry: client.Registry;
  observeRequest(interaction: string, resourceType: string, status: number, seconds: number): void;
}

/** Creates the registry: request counts and latency by interaction and resource type, DB pool gauges. */
export function createMetrics(pool: pg.Pool): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const requests = new client.Counter({
    name: 'tributary_requests_total',
    help: 'FHIR requests by interaction, resource type and status',
    labelNames: ['interaction', 'resource_type', 'status'],
    registers: [registry],
  });
  const latency = new client.Histogram({
    name: 'tributary_request_duration_seconds',
    help: 'FHIR request latency by interaction and resource type',
    labelNames: ['interaction', 'resource_type'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const gauge = (name: string, help: string, read: () => number) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge('tributary_db_pool_total', 'Connections in the DB pool', () => pool.totalCount);
  gauge('tributary_db_pool_idle', 'Idle connections in the DB pool', () => pool.idleCount);
  gauge('tributary_db_pool_waiting', 'Requests waiting for a DB connection', () => pool.waitingCount);
  // The labelled children, looked up by a plain string: prom-client would otherwise hash the label object per call.
  const counters = new Map<string, client.Counter.Internal>();
  const histograms = new Map<string, client.Histogram.Internal<string>>();
  return {
    registry,
    observeRequest(interaction, resourceType, status, seconds) {
      const key = `${interaction} ${resourceType}`;
      let counter = counters.get(`${key} ${status}`);
      if (!counter)
        counters.set(
          `${key} ${status}`,
          (counter = requests.labels({ interaction, resource_type: resourceType, status: String(status) })),
        );
      let histogram = histograms.get(key);
      if (!histogram) histograms.set(key, (histogram = latency.labels({ interaction, resource_type: resourceType })));
      counter.inc();
      histogram.observe(seconds);
    },
  };
}
