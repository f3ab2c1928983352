/**
 * The keys of the server's own Postgres advisory locks, in one place so that no two uses share a key (conditional
 * writes use hashed keys of their queries: hashtextextended, a different key space in practice).
 */
export const LOCKS = {
  /** Serialises migrations when several nodes start at once. */
  migrations: 7_264_311,
  /** Serialises signing-key rotation. */
  keyRotation: 7_264_312,
  /** Held by the one node that reads the subscription outbox. */
  outboxReader: 7_264_313,
} as const;
