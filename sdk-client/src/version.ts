/** Reported in HELLO `sdk`. Keep in step with sdk-client/package.json "version". */
export const SDK_VERSION = '0.1.0';
