/**
 * How jobs talk to the person running them. Jobs only describe what happens; the CLI decides
 * where it goes (stderr, a log file, nowhere) and how progress is drawn.
 */
export interface Reporter {
  /** A line of what is happening: "Stopping Apache". */
  info(message: string): void;
  /** Something the reader should know that does not stop the job. */
  warn(message: string): void;
  /** Progress of a long step, in bytes. Renderers throttle; jobs call it as often as they like. */
  progress(label: string, bytesDone: number, bytesTotal?: number): void;
}

/** A reporter that drops everything (library use, tests). */
export const silentReporter: Reporter = {
  info: () => {},
  warn: () => {},
  progress: () => {},
};
