/** Petrel's release version (package.json's; test/api/openapi.test.ts keeps them equal). */
export const PETREL_VERSION = '0.1.0';
