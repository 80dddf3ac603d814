// What the CLI touches of the process, passed in so tests can run it in-process.
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Colour and progress go to terminals only. */
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  /** A terminal's width, to which help is wrapped; undefined (80 columns) when not a terminal. */
  readonly stdoutColumns?: number | undefined;
  readonly stderrColumns?: number | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function processIo(): CliIo {
  return {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    stdoutColumns: process.stdout.isTTY ? process.stdout.columns : undefined,
    stderrColumns: process.stderr.isTTY ? process.stderr.columns : undefined,
    env: process.env,
  };
}
