/**
 * A message's `callbackUrl` (README, "Receipts"): an absolute http or https URL of at most
 * 2048 characters, without credentials in it (they would be stored with the message and
 * show up in dead letters). One check for the HTTP API and DispatchService.send.
 */
export const MAX_CALLBACK_URL_LENGTH = 2048;

/** What is wrong with a callback URL, or null when it is fine. */
export function callbackUrlProblem(value: string): string | null {
  if (value.length > MAX_CALLBACK_URL_LENGTH) return `at most ${MAX_CALLBACK_URL_LENGTH} characters`;
  if (!URL.canParse(value)) return 'an http or https URL';
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'an http or https URL';
  if (url.hostname === '') return 'an http or https URL with a host';
  if (url.username !== '' || url.password !== '') return 'no user or password in the URL';
  return null;
}
