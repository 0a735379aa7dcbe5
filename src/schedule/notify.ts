import os from 'node:os';
import nodemailer from 'nodemailer';
import { formatBytes, formatDuration } from '../format/units.js';
import type { Config } from '../config/config.js';
import type { NotifySettings, SmtpSettings } from '../config/notify-settings.js';
import { messageOf } from '../errors.js';
import type { Reporter } from '../jobs/reporter.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';
import type { NightlyRunRecord } from './history.js';
import { formatLocalTime } from './local-time.js';
import { redactor } from '../security/redact.js';

/** What became of a notification: `failed` never changes the run's own outcome. */
export type NotificationResult = 'sent' | 'skipped' | 'failed';

/** One email, ready to send. */
export interface Notification {
  subject: string;
  text: string;
}

/** Seconds the mail server gets: a nightly run must not hang on a dead relay. */
const CONNECTION_TIMEOUT_MS = 30_000;
const GREETING_TIMEOUT_MS = 30_000;
const SOCKET_TIMEOUT_MS = 60_000;

const OUTCOME_WORD: Record<NightlyRunRecord['outcome'], string> = { ok: 'OK', warning: 'WARNING', failed: 'FAILED' };

/**
 * Emails the outcome of a nightly run when CUPM_NOTIFY_ON asks for it. Never throws for a mail
 * problem: it is reported through `reporter.warn` (without the password) and answered with 'failed'.
 */
export async function sendNotification(config: Config, run: NightlyRunRecord, reporter: Reporter): Promise<NotificationResult> {
  const settings = config.notify;
  if (settings === undefined || !wanted(settings, run)) return 'skipped';
  const mail = composeNotification(run, { backupDir: config.backupDir });
  const transport = nodemailer.createTransport(transportOptions(settings.smtp));
  try {
    await transport.sendMail({ from: settings.from, to: settings.to, subject: mail.subject, text: mail.text });
    reporter.info(`Notification sent to ${settings.to.join(', ')} through ${settings.smtp.display}.`);
    return 'sent';
  } catch (error) {
    reporter.warn(
      `The notification email was not sent: ${scrub(describeMailError(error, settings.smtp), settings.smtp)} (the run's outcome is unchanged).`,
    );
    return 'failed';
  } finally {
    transport.close();
  }
}

/** failure (default): only runs that need attention; always: every run. */
export function wanted(settings: NotifySettings, run: NightlyRunRecord): boolean {
  return settings.on === 'always' || run.outcome !== 'ok';
}

/** The subject (host, outcome, date) and the plain-text body of the email for one run. */
export function composeNotification(run: NightlyRunRecord, context: { backupDir: string }): Notification {
  const outcome = OUTCOME_WORD[run.outcome];
  const subject = `[${TOOL_NAME}] ${run.host}: nightly backup ${outcome} (${formatLocalTime(run.startedAt, false)})`;
  const lines: string[] = [];
  lines.push(`Nightly backup of ${run.host}: ${outcome} (exit code ${run.exitCode}).`, '');
  lines.push(...headline(run));

  const failures = run.steps.filter((step) => step.status === 'failed');
  if (run.outcome !== 'ok') {
    lines.push('', 'What went wrong:');
    if (run.error) lines.push(`  ${run.error.message}`);
    for (const step of failures) {
      const text = step.error ?? step.detail ?? 'failed';
      if (run.error?.message.includes(text)) continue;
      lines.push(`  ${step.name}: ${text}`);
    }
    for (const copy of run.offsite.filter((c) => !c.ok)) {
      if (!failures.some((step) => step.error?.includes(copy.destination)))
        lines.push(`  off-site copy to ${copy.destination}: ${copy.error ?? 'failed'}`);
    }
    for (const warning of run.warnings ?? []) if (!lines.some((line) => line.includes(warning))) lines.push(`  ${warning}`);
    if (!run.error && failures.length === 0 && run.offsite.every((c) => c.ok) && (run.warnings ?? []).length === 0)
      lines.push('  see the steps below');
    lines.push('', 'What to do:');
    lines.push(`  ${run.error?.hint ?? defaultHint(run, context.backupDir)}`);
  }

  lines.push('', 'Run:');
  lines.push(`  started   ${formatLocalTime(run.startedAt, true)}`);
  lines.push(`  finished  ${formatLocalTime(run.finishedAt, true)} (${formatDuration(run.durationMs)})`);

  if (run.steps.length > 0) {
    lines.push('', 'Steps:');
    const width = Math.max(...run.steps.map((step) => step.name.length));
    for (const step of run.steps) {
      const what = step.status === 'failed' ? (step.error ?? step.detail) : step.detail;
      const took = step.status === 'skipped' ? '' : `, ${formatDuration(step.durationMs)}`;
      lines.push(`  ${step.status.padEnd(8)} ${step.name.padEnd(width)}  ${what ?? ''}${took}`.trimEnd());
    }
  }

  lines.push('', 'Archive:');
  if (run.archive) {
    const verified = run.verified ? 'verified' : 'NOT verified';
    const took = run.backupDurationMs === null ? '' : `, backup took ${formatDuration(run.backupDurationMs)}`;
    lines.push(`  ${run.archive.path}`);
    lines.push(
      `  ${formatBytes(run.archive.size)} (database dump ${formatBytes(run.archive.dumpBytes)}), CUPM ${run.archive.cupmVersion ?? 'version unknown'}, ${verified}${took}`,
    );
  } else {
    lines.push('  none was written by this run');
  }

  if (run.offsite.length > 0 || run.pendingOffsite.length > 0) {
    lines.push('', 'Off-site copies:');
    for (const copy of run.offsite) {
      const took = copy.durationMs === undefined ? '' : ` (${formatDuration(copy.durationMs)})`;
      lines.push(copy.ok ? `  ok       ${copy.destination}${took}` : `  FAILED   ${copy.destination}: ${copy.error ?? 'failed'}`);
    }
    for (const pending of run.pendingOffsite) {
      lines.push(
        `  pending  ${pending.destination}: ${pending.archive} (waiting since ${formatLocalTime(pending.since, false)}; retried on the next run)`,
      );
    }
  }
  if (run.pruned.length > 0) {
    lines.push('', `Removed by retention (${run.pruned.length}):`);
    for (const name of run.pruned) lines.push(`  ${name}`);
  }

  lines.push('', `The log and the status are in ${context.backupDir}; \`${TOOL_NAME} status\` on ${run.host} shows the state now.`);
  lines.push('', '-- ', `${TOOL_NAME} ${TOOL_VERSION} on ${os.hostname()}`);
  return { subject, text: lines.join('\n') + '\n' };
}

/** One sentence on the whole run, for the top of the email. */
function headline(run: NightlyRunRecord): string[] {
  if (!run.archive) return ['No backup was made.'];
  const size = `${formatBytes(run.archive.size)}, ${run.verified ? 'verified' : 'NOT verified'}`;
  const copied = run.offsite.filter((c) => c.ok).length;
  const offsite =
    run.offsite.length === 0
      ? ''
      : `; copied off-site to ${copied} of ${run.offsite.length} destination${run.offsite.length === 1 ? '' : 's'}`;
  return [`Backup ${run.archive.name} (${size})${offsite}.`];
}

function defaultHint(run: NightlyRunRecord, backupDir: string): string {
  if (run.archive && run.verified) {
    return `the backup itself is verified and kept in ${backupDir}; fix what failed above, and the next run retries what is pending.`;
  }
  return `read the log in ${backupDir}, fix the cause, then run \`${TOOL_NAME} nightly\` by hand on ${run.host} and check \`${TOOL_NAME} status\`.`;
}

/** nodemailer's options for one message: STARTTLS where offered, timeouts a night can afford. */
export function transportOptions(smtp: SmtpSettings) {
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: smtp.requireTls,
    auth: smtp.user === undefined ? undefined : { user: smtp.user, pass: smtp.password ?? '' },
    tls: { rejectUnauthorized: !smtp.allowUntrustedCertificate },
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    greetingTimeout: GREETING_TIMEOUT_MS,
    socketTimeout: SOCKET_TIMEOUT_MS,
    // nodemailer logs nothing unless asked; say so, since its log would show the AUTH exchange.
    logger: false,
    debug: false,
  };
}

/** nodemailer's error, told as what failed and what to check. */
function describeMailError(error: unknown, smtp: SmtpSettings): string {
  const e = error as { code?: string; responseCode?: number; response?: string; message?: string };
  const server = smtp.display;
  const response = e.response ? ` (${e.response.trim()})` : '';
  const message = messageOf(error);
  switch (e.code) {
    case 'EAUTH':
      return `${server} refused the login${smtp.user ? ` of user "${smtp.user}"` : ''}${response || ` (${message})`}; check the user and password in CUPM_SMTP_URL`;
    case 'ENOAUTH':
      return `${server} asks for a login, but CUPM_SMTP_URL has no user and password`;
    case 'EENVELOPE':
      return `${server} refused the sender or the recipients${response || ` (${message})`}; check CUPM_NOTIFY_FROM and CUPM_NOTIFY_TO`;
    case 'EMESSAGE':
      return `${server} refused the message${response || ` (${message})`}`;
    case 'ETIMEDOUT':
      return `${server} did not answer in time (${message}); check that the mail server is up and reachable from this host`;
    case 'ETLS':
      return `STARTTLS with ${server} failed (${message})`;
    default:
      break;
  }
  if (/certificate|self[- ]signed|CERT_|unable to verify/i.test(message)) {
    return `the TLS certificate of ${server} is not trusted (${message}); give the mail server a trusted certificate, or add ?tls.rejectUnauthorized=false to CUPM_SMTP_URL to accept this one`;
  }
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ECONNRESET/.test(message)) {
    return `could not connect to ${server} (${message}); check the host and port in CUPM_SMTP_URL and that the mail server is running`;
  }
  return `sending through ${server} failed: ${message}${response}`;
}

/** Removes the password, in every form an SMTP exchange could carry it, from a text we print. */
export function scrub(text: string, smtp: SmtpSettings): string {
  const password = smtp.password;
  if (!password) return text;
  // AUTH PLAIN sends user and password base64-encoded together: that form is a secret too.
  return redactor([password, Buffer.from(`\0${smtp.user ?? ''}\0${password}`).toString('base64')])(text);
}
