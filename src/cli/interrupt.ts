/**
 * An AbortSignal for Ctrl-C / SIGTERM that survives execa: execa's signal-exit re-raises a signal
 * when it believes no one else listens, and a `process.once` listener is gone by the time it looks,
 * so the process died half way instead of putting things back. Here the listener stays: the first
 * signal aborts (the job stops and undoes), a second one ends the process at once (the journal lets
 * the next run finish the job).
 */
export function lastingInterruptSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      process.stderr.write(`\nReceived ${signal}: stopping and putting things back (this can take a moment; ${signal} again ends at once)...\n`);
      controller.abort();
      return;
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.kill(process.pid, signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}
