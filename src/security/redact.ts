/**
 * Secrets never leave the process in the clear: every password the configuration holds is taken
 * out of the text we print, log or return (`***`), in each form it could appear in (as is,
 * URL-encoded, base64 as in an SMTP AUTH line). One place for it, used by the run log, the
 * notification, and the command line's output (stdout, stderr, --json, error messages).
 */

/** The places a configuration holds secrets in (a Config is one). */
export interface SecretSettings {
  pg: { password?: string | undefined };
  offsite: { secrets: readonly string[] };
  notify: { smtp: { password?: string | undefined } } | undefined;
  server?: { password?: string | undefined } | undefined;
}

/** Every secret of a configuration: the database, off-site, SMTP and CUPM server passwords. */
export function secretsOf(config: SecretSettings): string[] {
  const secrets = [config.pg.password, ...config.offsite.secrets, config.notify?.smtp.password, config.server?.password];
  return secrets.filter((s): s is string => typeof s === 'string' && s.length > 0);
}

/** Replaces every secret (and its URL-encoded and base64 forms) by `***`. Short ones too: better a garbled line than a leak. */
export function redactor(secrets: readonly string[]): (text: string) => string {
  const forms = [...new Set(secrets.flatMap((s) => [s, encodeURIComponent(s), Buffer.from(s).toString('base64')]))]
    .filter((s) => s.length > 0)
    .sort((a, b) => b.length - a.length);
  if (forms.length === 0) return (text) => text;
  const pattern = new RegExp(forms.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return (text) => text.replace(pattern, '***');
}

/** A URL with its password replaced by `***`. */
export function redactUrl(url: URL): string {
  if (url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.password = '***';
  return copy.href;
}

/** Best effort for text that does not even parse as a URL: hide what sits between `user:` and `@`. */
export function redactUrlText(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, '$1:***@').replace(/(\/\/[^:/@\s]*:)[^@\s]*@/, '$1***@');
}

const registered = new Set<string>();
let outputRedactor: (text: string) => string = (text) => text;

/**
 * Registers the secrets of the configuration a command runs with, so that everything the command
 * line prints passes through `redactOutput` (its one output boundary: cli/output.ts, cli/main.ts).
 */
export function registerSecrets(secrets: readonly string[]): void {
  for (const secret of secrets) registered.add(secret);
  outputRedactor = redactor([...registered]);
}

/** Text on its way to stdout or stderr, with every registered secret taken out. */
export function redactOutput(text: string): string {
  return outputRedactor(text);
}
