import type { Knex } from 'knex';

/**
 * The terminology store (terminology/): code systems loaded from FHIR packages (THO, IGs), licensed releases (LOINC,
 * SNOMED CT, RxNorm) and streamed CodeSystem files, one row per concept. Each concept carries its ancestors (itself
 * included) as an array of ordinals with a GIN index: the transitive closure of is-a, so subsumption is one row read
 * and `is-a`/`:below` a containment test, never a walk. ValueSets and ConceptMaps of packages are kept whole.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE terminology_code_system (
      id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      url text NOT NULL,
      version text NOT NULL DEFAULT '',
      source text NOT NULL,
      resource jsonb NOT NULL,
      case_sensitive boolean NOT NULL DEFAULT true,
      concepts int NOT NULL DEFAULT 0,
      loaded_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (url, version)
    );

    CREATE TABLE terminology_concept (
      system_id int NOT NULL REFERENCES terminology_code_system (id) ON DELETE CASCADE,
      ord int NOT NULL,
      code text NOT NULL,
      display text,
      inactive boolean NOT NULL DEFAULT false,
      abstract boolean NOT NULL DEFAULT false,
      parents int[] NOT NULL DEFAULT '{}',
      ancestors int[] NOT NULL,
      props jsonb,
      detail jsonb,
      PRIMARY KEY (system_id, ord)
    );
    CREATE UNIQUE INDEX terminology_concept_code ON terminology_concept (system_id, code);
    CREATE INDEX terminology_concept_lower_code ON terminology_concept (system_id, lower(code));
    CREATE INDEX terminology_concept_ancestors ON terminology_concept USING gin (ancestors);

    CREATE TABLE terminology_resource (
      resource_type text NOT NULL CHECK (resource_type IN ('ValueSet', 'ConceptMap')),
      url text NOT NULL,
      version text NOT NULL DEFAULT '',
      source text NOT NULL,
      resource jsonb NOT NULL,
      PRIMARY KEY (resource_type, url, version)
    );

    CREATE TABLE terminology_package (
      name text PRIMARY KEY,
      version text NOT NULL,
      installed_at timestamptz NOT NULL DEFAULT now(),
      summary jsonb NOT NULL
    );
  `);
}

/** Drops the terminology store. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(
    'DROP TABLE IF EXISTS terminology_package, terminology_resource, terminology_concept, terminology_code_system',
  );
}
