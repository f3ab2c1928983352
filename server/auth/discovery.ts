import type { CapabilityStatementRestSecurity } from '@medplum/fhirtypes';

/** The SMART App Launch 2 capabilities this server actually supports. */
export const SMART_CAPABILITIES = [
  'launch-ehr',
  'launch-standalone',
  'authorize-post',
  'client-public',
  'client-confidential-symmetric',
  'client-confidential-asymmetric',
  'context-passthrough-banner',
  'context-passthrough-style',
  'context-ehr-patient',
  'context-ehr-encounter',
  'context-standalone-patient',
  'permission-offline',
  'permission-online',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
  'sso-openid-connect',
];

/** `/.well-known/smart-configuration`: the SMART 2.x discovery document (served at the root and at the FHIR base). */
export function smartConfiguration(issuer: string, dynamicRegistration: boolean): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/introspect`,
    revocation_endpoint: `${issuer}/revoke`,
    userinfo_endpoint: `${issuer}/userinfo`,
    ...(dynamicRegistration ? { registration_endpoint: `${issuer}/register` } : {}),
    management_endpoint: `${issuer}/admin/clients`,
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    scopes_supported: [
      'openid',
      'fhirUser',
      'profile',
      'launch',
      'launch/patient',
      'launch/encounter',
      'offline_access',
      'online_access',
      'patient/*.cruds',
      'patient/*.rs',
      'patient/*.read',
      'patient/*.write',
      'user/*.cruds',
      'user/*.rs',
      'user/*.read',
      'user/*.write',
      'system/*.cruds',
      'system/*.rs',
      'system/*.read',
      'system/*.write',
    ],
    capabilities: SMART_CAPABILITIES,
  };
}

/**
 * The CapabilityStatement's `rest.security` for SMART: the oauth-uris extension (authorize, token, introspect,
 * revoke, register) and the SMART-on-FHIR service coding. The CapabilityStatement generator adds it through its
 * statement contributor registry.
 */
export function smartSecurity(issuer: string, dynamicRegistration: boolean): CapabilityStatementRestSecurity {
  const uris: [string, string][] = [
    ['authorize', `${issuer}/authorize`],
    ['token', `${issuer}/token`],
    ['introspect', `${issuer}/introspect`],
    ['revoke', `${issuer}/revoke`],
  ];
  if (dynamicRegistration) uris.push(['register', `${issuer}/register`]);
  return {
    cors: true,
    service: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
        text: 'OAuth2 using SMART-on-FHIR profile',
      },
    ],
    description: 'SMART App Launch 2 and Backend Services; see /.well-known/smart-configuration',
    extension: [
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: uris.map(([url, valueUri]) => ({ url, valueUri })),
      },
    ],
  };
}
