// bench/startup: how long the CLI takes to start, as a ratio to starting bare node (`node -e 0`) measured in
// the same rounds. Each round runs every command once, in turn, so a busier moment of a shared machine
// falls on all of them alike; the medians are compared. `simulate --help` is simulate's start-up, so
// `simulate` minus it is the simulation's own work (loading zod, yaml and the scenario, then running it).
//
//   npm run bench:startup -- [--runs 21] [--cli dist/src/cli/main.js]
//
// --cli points at another build of main.js, to compare before and after a change on the same machine.
import { spawnSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";
import { resolve } from "node:path";

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg("runs") ?? 21);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error("--runs expects a positive integer");
const CLI = resolve(arg("cli") ?? "dist/src/cli/main.js");

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  /** The exit code the command must end with: a failing command would time the wrong thing. */
  readonly exit: number;
}

const BARE: Case = { name: "node -e 0 (baseline)", args: ["-e", "0"], exit: 0 };
const CASES: readonly Case[] = [
  BARE,
  { name: "--version", args: [CLI, "--version"], exit: 0 },
  { name: "gate --help", args: [CLI, "gate", "--help"], exit: 0 },
  { name: "rollout --help", args: [CLI, "rollout", "--help"], exit: 0 },
  { name: "simulate --help", args: [CLI, "simulate", "--help"], exit: 0 },
  { name: "simulate (built-in scenario)", args: [CLI, "simulate"], exit: 1 },
  {
    name: "import @kubernetes/client-node",
    args: ["--input-type=module", "-e", 'await import("@kubernetes/client-node")'],
    exit: 0,
  },
];

function timeOnce(c: Case): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, c.args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const ms = performance.now() - t0;
  if (r.status !== c.exit)
    throw new Error(`${c.name}: exit ${r.status}, expected ${c.exit}: ${r.stderr.slice(0, 500)}`);
  return ms;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function main(): void {
  const load0 = loadavg()[0]!;
  const times = new Map<Case, number[]>(CASES.map((c) => [c, []]));
  for (const c of CASES) timeOnce(c); // warm the file system cache; not counted
  for (let round = 0; round < RUNS; round++) for (const c of CASES) times.get(c)!.push(timeOnce(c));
  const load1 = loadavg()[0]!;

  const bare = median(times.get(BARE)!);
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  process.stdout.write(
    `## startup, ${new Date().toISOString().slice(0, 16)}Z\n\n` +
      `Machine: ${cpus().length} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}; ` +
      `load average (1 min) ${load0.toFixed(2)} before the runs, ${load1.toFixed(2)} after. ` +
      `${RUNS} runs of each, interleaved; wall time of the whole process (spawn to exit), median. CLI: ${CLI}.\n\n` +
      "| command | ms (median) | ms (min-max) | ratio to bare node |\n" +
      "| --- | --- | --- | --- |\n",
  );
  for (const c of CASES) {
    const xs = times.get(c)!;
    process.stdout.write(
      `| ${c.name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)} | ${(median(xs) / bare).toFixed(2)} |\n`,
    );
  }
  const simHelp = median(times.get(CASES.find((c) => c.name === "simulate --help")!)!);
  const sim = median(times.get(CASES.find((c) => c.name.startsWith("simulate ("))!)!);
  const goal = ["--version", "gate --help", "simulate --help"].map((name) => {
    const ratio = median(times.get(CASES.find((c) => c.name === name)!)!) / bare;
    return `${name} ${ratio.toFixed(2)} (${ratio <= 2 ? "met" : "NOT met"})`;
  });
  process.stdout.write(
    `\nsimulate's work beyond its start-up: ${(sim - simHelp).toFixed(0)} ms (simulate minus simulate --help).\n` +
      `Goal, start-up within 2x of bare node: ${goal.join(", ")}.\n`,
  );
}

main();
