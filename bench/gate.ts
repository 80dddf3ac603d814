// Speed benchmark of `voicectl gate` (npm run bench:gate [-- options]).
//
// A million rows per arm, 6 metrics, 301 slices (aggregate, 290 voices, 10 languages), judged in independent
// and in paired mode. The CLI runs as a child process, as CI runs it; next to it, in the same benchmark run and
// on the same files, runs a naive implementation of the same estimates (bench/naive-gate.ts: whole file in
// memory, one object per row, arrays per slice, sort for p95). Printed: wall time, rows per second and peak
// memory of each, and the ratios voicectl / naive, which mean more across machines than the seconds do.
// The target of the issue: the whole gate run under 10 s and under 1 GB on a 2-core machine.
//
// Options:
//   --rows N       rows per arm (default 1000000)
//   --runs N       runs per implementation and mode; the median time and the highest peak are reported (3)
//   --seed N       data seed (1)
//   --mode M       independent, paired or both (both)
//   --record       append the figures, dated, with the machine, to bench/RESULTS.md
//   --profile      also run the CLI once per mode under --cpu-prof and list the top self-time functions
//   --rss M        how to measure peak memory: auto, time (/usr/bin/time -v) or probe (getrusage at exit)
//   --data-dir D   where the generated files live (default: <os tmpdir>/voicectl-bench/...)
//
// Nothing is written into the repository except bench/RESULTS.md with --record.
import { spawn, execFileSync } from "node:child_process";
import {
  appendFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { availableParallelism, loadavg, totalmem } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { GateReport } from "../src/core/judge/report.js";
import { dataDir, ensureData, type DataSet } from "./gate-data.js";
import type { NaiveEstimate } from "./naive-gate.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "dist/src/cli/main.js");
const NAIVE = join(ROOT, "dist/bench/naive-gate.js");
const PROBE = join(ROOT, "dist/bench/rss-probe.js");
const POLICY = join(ROOT, "bench/gate-policy.yaml");
const RESULTS = join(ROOT, "bench/RESULTS.md");

const TARGET_SECONDS = 10;
const TARGET_MB = 1000;
const EXIT_OF_DECISION: Readonly<Record<string, number>> = { promote: 0, rollback: 1, pause: 2 };

type Mode = "independent" | "paired";
type Impl = "voicectl" | "naive";
type RssMethod = "time" | "probe";

interface Measured {
  readonly wallMs: number;
  /** Peak resident set size in bytes. */
  readonly peakBytes: number;
  /** User + system CPU time: less sensitive than wall time to other work on the machine. */
  readonly cpuMs: number;
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

interface Summary {
  readonly mode: Mode;
  readonly impl: Impl;
  readonly walls: number[];
  readonly medianMs: number;
  readonly medianCpuMs: number;
  readonly peakBytes: number;
  readonly rowsPerSecond: number;
  readonly exitCodes: number[];
}

// ---------------------------------------------------------------------------------------------------------
// Measuring a child process

function hasGnuTime(): boolean {
  if (!existsSync("/usr/bin/time")) return false;
  try {
    const out = execFileSync("/usr/bin/time", ["-v", process.execPath, "-e", "0"], {
      encoding: "utf8",
      stdio: "pipe",
    });
    return out !== null; // -v output goes to stderr; reaching here means the flag was accepted
  } catch {
    return false;
  }
}

function run(
  args: readonly string[],
  rss: RssMethod,
  scratch: string,
  extraNodeArgs: readonly string[] = [],
): Promise<Measured> {
  const rssFile = join(scratch, `rss-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  const nodeArgs = [...extraNodeArgs, ...args];
  const [command, argv, env] =
    rss === "time"
      ? ["/usr/bin/time", ["-v", "-o", rssFile, process.execPath, ...nodeArgs], process.env]
      : [
          process.execPath,
          ["--import", pathToFileURL(PROBE).href, ...nodeArgs],
          { ...process.env, VOICECTL_BENCH_RSS_FILE: rssFile },
        ];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, argv as string[], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const wallMs = performance.now() - started;
      let peakKb = NaN;
      let cpuMs = NaN;
      try {
        const text = readFileSync(rssFile, "utf8");
        if (rss === "time") {
          peakKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1] ?? NaN);
          const user = Number(/User time \(seconds\): ([\d.]+)/.exec(text)?.[1] ?? NaN);
          const system = Number(/System time \(seconds\): ([\d.]+)/.exec(text)?.[1] ?? NaN);
          cpuMs = (user + system) * 1000;
        } else {
          const [kb, us] = text.trim().split(" ");
          peakKb = Number(kb);
          cpuMs = Number(us) / 1000;
        }
        rmSync(rssFile, { force: true });
      } catch {
        // no figure: reported as NaN
      }
      resolve({
        wallMs,
        peakBytes: peakKb * 1024, // getrusage's ru_maxrss is in kibibytes on Linux, as is GNU time's figure
        cpuMs,
        exitCode: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

function gateArgs(data: DataSet, mode: Mode): string[] {
  const args = [
    "gate",
    "--policy",
    POLICY,
    "--baseline",
    data.baseline,
    "--canary",
    data.canary,
    "-o",
    "json",
  ];
  return mode === "paired" ? [...args, "--pair-by", "utterance_id"] : args;
}

function naiveArgs(data: DataSet, mode: Mode): string[] {
  const args = ["--policy", POLICY, "--baseline", data.baseline, "--canary", data.canary];
  return mode === "paired" ? [...args, "--pair-by", "utterance_id"] : args;
}

/** Reads both files once so every measured run finds them in the page cache. */
async function warm(data: DataSet): Promise<void> {
  for (const file of [data.baseline, data.canary]) {
    for await (const _chunk of createReadStream(file, { highWaterMark: 1 << 22 })) {
      // discard
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Checking what the children computed

const sliceKey = (slice: Readonly<Record<string, string>>) =>
  Object.keys(slice)
    .sort()
    .map((k) => `${k}=${slice[k]}`)
    .join(",");

function close(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return a === b;
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Problems with a voicectl run; empty when the exit code, JSON and shape are as expected. */
function checkGate(
  m: Measured,
  mode: Mode,
  expectedFindings: number,
): { problems: string[]; report?: GateReport } {
  const problems: string[] = [];
  if (![0, 1, 2].includes(m.exitCode)) {
    problems.push(
      `voicectl ${mode}: exit code ${m.exitCode}, expected 0, 1 or 2; stderr: ${m.stderr.slice(0, 500)}`,
    );
    return { problems };
  }
  let report: GateReport;
  try {
    report = JSON.parse(m.stdout) as GateReport;
  } catch (e) {
    problems.push(`voicectl ${mode}: output is not JSON (${(e as Error).message})`);
    return { problems };
  }
  if (EXIT_OF_DECISION[report.decision] !== m.exitCode) {
    problems.push(`voicectl ${mode}: decision ${report.decision} but exit code ${m.exitCode}`);
  }
  if (report.mode !== mode) problems.push(`voicectl ${mode}: report says mode ${report.mode}`);
  if (report.findings.length !== expectedFindings) {
    problems.push(`voicectl ${mode}: ${report.findings.length} findings, expected ${expectedFindings}`);
  }
  return { problems, report };
}

/** Do voicectl and the naive script agree on every slice's sample counts and point estimates? */
function crossCheck(report: GateReport, naive: readonly NaiveEstimate[], mode: Mode): string[] {
  const byKey = new Map(naive.map((e) => [`${e.metric}|${e.slice}`, e]));
  const problems: string[] = [];
  for (const f of report.findings) {
    const e = byKey.get(`${f.metric}|${sliceKey(f.slice)}`);
    if (!e) {
      problems.push(`${mode}: naive has no estimate for ${f.metric} in ${sliceKey(f.slice) || "all"}`);
      continue;
    }
    const same =
      e.n.baseline === f.samples.baseline &&
      e.n.canary === f.samples.canary &&
      close(e.baseline, f.baseline) &&
      close(e.canary, f.canary);
    if (!same) {
      problems.push(
        `${mode}: ${f.metric} in ${sliceKey(f.slice) || "all"}: voicectl n=${f.samples.baseline}/${f.samples.canary} ` +
          `${f.baseline} -> ${f.canary}, naive n=${e.n.baseline}/${e.n.canary} ${e.baseline} -> ${e.canary}`,
      );
    }
  }
  if (naive.length !== report.findings.length) {
    problems.push(
      `${mode}: naive computed ${naive.length} estimates, voicectl ${report.findings.length} findings`,
    );
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------
// Profiles

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * Per generated line, its segments as [generated column, source index, original line] (all 0-based). Only
 * the fields needed are accumulated (original columns and names are skipped).
 */
function decodeMappings(mappings: string): [number, number, number][][] {
  const lines: [number, number, number][][] = [];
  let source = 0;
  let line = 0;
  for (const text of mappings.split(";")) {
    const segments: [number, number, number][] = [];
    let generated = 0;
    for (const segment of text.split(",")) {
      if (segment === "") continue;
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of segment) {
        const digit = BASE64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      generated += fields[0] ?? 0;
      if (fields.length >= 4) {
        source += fields[1]!;
        line += fields[2]!;
        segments.push([generated, source, line]);
      }
    }
    lines.push(segments);
  }
  return lines;
}

const sourceMaps = new Map<string, { sources: string[]; lines: [number, number, number][][] } | null>();

/** `src/x.ts:line` for a position in compiled code (through its source map), else the compiled file's own. */
function sourceLocation(url: string, line: number, column: number): string {
  const rootUrl = pathToFileURL(ROOT).href;
  const shown = url.startsWith(rootUrl) ? url.slice(rootUrl.length) : url.replace(/^file:\/\//, "");
  if (!url.startsWith("file://")) return `${shown}:${line + 1}`;
  const file = fileURLToPath(url);
  let map = sourceMaps.get(file);
  if (map === undefined) {
    try {
      const raw = JSON.parse(readFileSync(`${file}.map`, "utf8")) as { sources: string[]; mappings: string };
      const dir = dirname(file);
      map = {
        sources: raw.sources.map((s) => relative(ROOT, join(dir, s))),
        lines: decodeMappings(raw.mappings),
      };
    } catch {
      map = null;
    }
    sourceMaps.set(file, map);
  }
  const segments = map?.lines[line];
  if (!map || !segments || segments.length === 0) return `${shown}:${line + 1}`;
  let best = segments[0]!;
  for (const s of segments) if (s[0] <= column) best = s;
  return `${map.sources[best[1]] ?? shown}:${best[2] + 1}`;
}

export interface HotSpot {
  readonly name: string;
  readonly where: string;
  readonly selfMs: number;
  readonly share: number;
}

/** Self time per function (summed over every call site), highest first. */
export function hotSpots(profile: CpuProfile, top: number): { spots: HotSpot[]; totalMs: number } {
  const nodeById = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, { name: string; where: string; us: number }>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    // Each sample's delta is the time since the previous sample: charge it to the function now on top.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const node = nodeById.get(id);
    if (!node) return;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    const where = url ? sourceLocation(url, lineNumber, columnNumber) : "";
    const name = functionName || (url ? "(anonymous)" : "(native)");
    const key = `${name}@${where}`;
    const entry = selfUs.get(key) ?? { name, where, us: 0 };
    entry.us += dt;
    selfUs.set(key, entry);
    totalUs += dt;
  });
  const spots = [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({
      name: e.name,
      where: e.where,
      selfMs: e.us / 1000,
      share: totalUs > 0 ? e.us / totalUs : 0,
    }));
  return { spots, totalMs: totalUs / 1000 };
}

async function profileGate(data: DataSet, mode: Mode, rss: RssMethod, scratch: string): Promise<string[]> {
  const dir = join(scratch, `cpu-profile-${mode}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const m = await run([CLI, ...gateArgs(data, mode)], rss, scratch, ["--cpu-prof", "--cpu-prof-dir", dir]);
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) return [`no profile written for ${mode} (exit ${m.exitCode})`];
  const { spots, totalMs } = hotSpots(JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile, 20);
  const lines = [
    `CPU profile, ${mode} mode (${(m.wallMs / 1000).toFixed(2)} s under the profiler, ${(totalMs / 1000).toFixed(2)} s sampled; ${join(dir, file)})`,
    ...table(
      ["self ms", "self %", "function", "where"],
      spots.map((s) => [s.selfMs.toFixed(0), (s.share * 100).toFixed(1), s.name, s.where]),
    ),
  ];
  return lines;
}

// ---------------------------------------------------------------------------------------------------------
// Reporting

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const fmtInt = (x: number) => Math.round(x).toLocaleString("en-US");
const fmtSeconds = (ms: number) => (ms / 1000).toFixed(2);
const fmtMb = (bytes: number) => (Number.isFinite(bytes) ? (bytes / 1e6).toFixed(0) : "n/a");

/** A table as lines: columns padded to their widest cell (also valid, prettier-formatted Markdown). */
function table(header: readonly string[], rows: readonly (readonly string[])[], markdown = false): string[] {
  const widths = header.map((h, c) =>
    Math.max(markdown ? 3 : 0, h.length, ...rows.map((r) => (r[c] ?? "").length)),
  );
  const line = (cells: readonly string[]) =>
    markdown
      ? `| ${cells.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ")} |`
      : cells
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join("  ")
          .trimEnd();
  const rule = markdown
    ? `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`
    : widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...rows.map(line)];
}

function resultRows(summaries: readonly Summary[]): string[][] {
  const rows: string[][] = [];
  for (const mode of ["independent", "paired"] as Mode[]) {
    const v = summaries.find((s) => s.mode === mode && s.impl === "voicectl");
    const n = summaries.find((s) => s.mode === mode && s.impl === "naive");
    for (const s of [v, n]) {
      if (!s) continue;
      rows.push([
        mode,
        s.impl,
        fmtSeconds(s.medianMs),
        `${fmtSeconds(Math.min(...s.walls))}-${fmtSeconds(Math.max(...s.walls))}`,
        fmtSeconds(s.medianCpuMs),
        fmtInt(s.rowsPerSecond),
        fmtMb(s.peakBytes),
        s.exitCodes.join(","),
      ]);
    }
    if (v && n) {
      rows.push([
        mode,
        "ratio voicectl/naive",
        (v.medianMs / n.medianMs).toFixed(2),
        "",
        (v.medianCpuMs / n.medianCpuMs).toFixed(2),
        (v.rowsPerSecond / n.rowsPerSecond).toFixed(2),
        (v.peakBytes / n.peakBytes).toFixed(2),
        "",
      ]);
    }
  }
  return rows;
}

const RESULT_HEADER = [
  "mode",
  "implementation",
  "wall s (median)",
  "wall s (range)",
  "cpu s (median)",
  "rows/s",
  "peak RSS MB",
  "exit",
];

function targetLines(summaries: readonly Summary[]): { lines: string[]; met: boolean } {
  let met = true;
  const lines: string[] = [];
  for (const s of summaries.filter((x) => x.impl === "voicectl")) {
    const slowest = Math.max(...s.walls);
    const timeOk = slowest < TARGET_SECONDS * 1000;
    const memOk = s.peakBytes < TARGET_MB * 1e6;
    met &&= timeOk && memOk;
    lines.push(
      `${s.mode}: slowest run ${fmtSeconds(slowest)} s ${timeOk ? "<" : ">="} ${TARGET_SECONDS} s, ` +
        `peak ${fmtMb(s.peakBytes)} MB ${memOk ? "<" : ">="} ${TARGET_MB} MB: ${timeOk && memOk ? "met" : "MISSED"}`,
    );
  }
  return { lines, met };
}

function machine(): { date: string; cores: string; cpu: string; memory: string; node: string } {
  let cores = String(availableParallelism());
  try {
    cores = execFileSync("nproc", { encoding: "utf8" }).trim();
  } catch {
    // nproc missing: the runtime's count
  }
  let cpu = "unknown";
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux
  }
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cores,
    cpu,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
  };
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rows: { type: "string", default: "1000000" },
      runs: { type: "string", default: "3" },
      seed: { type: "string", default: "1" },
      mode: { type: "string", default: "both" },
      record: { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      rss: { type: "string", default: "auto" },
      "data-dir": { type: "string" },
    },
  });
  const rows = Number(values.rows);
  const runs = Number(values.runs);
  const seed = Number(values.seed);
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed)) {
    throw new Error("--rows, --runs and --seed take whole numbers (rows and runs at least 1)");
  }
  const modes: Mode[] =
    values.mode === "both"
      ? ["independent", "paired"]
      : values.mode === "independent" || values.mode === "paired"
        ? [values.mode]
        : [];
  if (modes.length === 0) throw new Error(`--mode takes independent, paired or both, not "${values.mode}"`);
  const gnuTime = hasGnuTime();
  const rss: RssMethod =
    values.rss === "auto" ? (gnuTime ? "time" : "probe") : values.rss === "time" ? "time" : "probe";
  if (rss === "time" && !gnuTime) throw new Error("--rss time: /usr/bin/time -v is not available");

  const params = { rows, seed };
  const dir = values["data-dir"] ?? dataDir(params);
  const data = ensureData(params, dir);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(
    `${data.reused ? "reusing" : "generated"} ${data.baseline} (${fmtMb(data.bytes.baseline)} MB) and canary.csv (${fmtMb(data.bytes.canary)} MB)`,
  );
  await warm(data);
  // Other work on the machine inflates times (2 cores: one busy neighbour takes half); the load shows it.
  const loadBefore = loadavg()[0]!;

  const expectedFindings = 6 * (1 + data.voices + data.languages);
  const problems: string[] = [];
  const summaries: Summary[] = [];
  const decisions: string[] = [];
  for (const mode of modes) {
    const measured: Record<Impl, Measured[]> = { voicectl: [], naive: [] };
    for (let r = 0; r < runs; r++) {
      // Alternate the two so drift in the machine's speed falls on both alike.
      for (const impl of (r % 2 === 0 ? ["voicectl", "naive"] : ["naive", "voicectl"]) as Impl[]) {
        log(`run ${r + 1}/${runs}: ${impl}, ${mode}`);
        const m =
          impl === "voicectl"
            ? await run([CLI, ...gateArgs(data, mode)], rss, dir)
            : await run([NAIVE, ...naiveArgs(data, mode)], rss, dir);
        log(
          `  ${fmtSeconds(m.wallMs)} s (cpu ${fmtSeconds(m.cpuMs)} s), peak ${fmtMb(m.peakBytes)} MB, exit ${m.exitCode}`,
        );
        measured[impl].push(m);
      }
    }
    // Check every run's output; cross-check the estimates once per mode.
    let report: GateReport | undefined;
    for (const m of measured.voicectl) {
      const checked = checkGate(m, mode, expectedFindings);
      problems.push(...checked.problems);
      report ??= checked.report;
    }
    let naive: NaiveEstimate[] | undefined;
    for (const m of measured.naive) {
      if (m.exitCode !== 0) {
        problems.push(`naive ${mode}: exit code ${m.exitCode}; stderr: ${m.stderr.slice(0, 500)}`);
        continue;
      }
      naive ??= (JSON.parse(m.stdout) as { estimates: NaiveEstimate[] }).estimates;
    }
    if (report && naive) {
      const mismatches = crossCheck(report, naive, mode);
      problems.push(...mismatches.slice(0, 10));
      if (mismatches.length > 10) problems.push(`${mode}: and ${mismatches.length - 10} more mismatches`);
    }
    if (report)
      decisions.push(
        `${mode}: ${report.decision} (${report.counts.fail} fail, ${report.counts.inconclusive} inconclusive, ${report.counts.pass} pass, ${report.counts.nodata} nodata)`,
      );
    for (const impl of ["voicectl", "naive"] as Impl[]) {
      const walls = measured[impl].map((m) => m.wallMs);
      const medianMs = median(walls);
      summaries.push({
        mode,
        impl,
        walls,
        medianMs,
        medianCpuMs: median(measured[impl].map((m) => m.cpuMs)),
        peakBytes: Math.max(...measured[impl].map((m) => m.peakBytes)),
        rowsPerSecond: (2 * rows) / (medianMs / 1000),
        exitCodes: measured[impl].map((m) => m.exitCode),
      });
    }
  }

  const profileLines: string[] = [];
  if (values.profile) {
    for (const mode of modes) {
      log(`profiling voicectl, ${mode}`);
      profileLines.push("", ...(await profileGate(data, mode, rss, dir)));
    }
  }

  const m = machine();
  const load = `load average (1 min) ${loadBefore.toFixed(2)} before the runs, ${loadavg()[0]!.toFixed(2)} after`;
  const targets = targetLines(summaries);
  const sliceCount = 1 + data.voices + data.languages;
  const setup =
    `${fmtInt(rows)} rows per arm (${fmtInt(2 * rows)} rows read), 6 metrics, ${sliceCount} slices ` +
    `(aggregate + ${data.voices} voices + ${data.languages} languages), ${expectedFindings} findings; ` +
    `${runs} run${runs > 1 ? "s" : ""} each, median wall time, highest peak RSS (${rss === "time" ? "/usr/bin/time -v" : "getrusage at exit"})`;
  const out = [
    `voicectl gate benchmark: ${setup}`,
    `machine: ${m.cores} cores, ${m.cpu}, ${m.memory}, node ${m.node}; ${load}`,
    "",
    ...table(RESULT_HEADER, resultRows(summaries)),
    "",
    "rows/s = rows of both files / median wall time of the whole process (startup, reading, judging, JSON output);",
    "cpu s = user + system time of the child (above wall time when the garbage collector's helper threads work).",
    `decisions: ${decisions.join("; ")}`,
    `target (< ${TARGET_SECONDS} s and < ${TARGET_MB} MB per gate run): ${targets.met ? "met" : "MISSED"}`,
    ...targets.lines.map((l) => `  ${l}`),
    ...profileLines,
  ];
  if (problems.length > 0) out.push("", "CHECKS FAILED:", ...problems.map((p) => `  ${p}`));
  else
    out.push(
      "checks: exit codes, JSON, finding counts, and voicectl's estimates equal to the naive ones: ok",
    );
  process.stdout.write(out.join("\n") + "\n");

  if (values.record) {
    if (problems.length > 0) {
      log("not recording: the checks failed");
    } else {
      if (!existsSync(RESULTS)) {
        appendFileSync(
          RESULTS,
          "# Benchmark results\n\nFigures from `npm run bench:gate -- --record`, newest last. Ratios are against the naive\n" +
            "implementation in bench/naive-gate.ts, run in the same benchmark on the same files.\n",
        );
      }
      const section = [
        "",
        `## gate, ${m.date}`,
        "",
        `Machine: ${m.cores} cores (nproc), ${m.cpu}, ${m.memory} memory, node ${m.node}; ${load}.`,
        "",
        `Setup: ${setup}.`,
        "",
        ...table(RESULT_HEADER, resultRows(summaries), true),
        "",
        `Target (< ${TARGET_SECONDS} s and < ${TARGET_MB} MB per gate run): ${targets.met ? "met" : "missed"}. ` +
          targets.lines.join("; ") +
          ".",
        "",
      ];
      appendFileSync(RESULTS, section.join("\n"));
      log(`recorded in ${RESULTS}`);
    }
  }
  return problems.length > 0 ? 1 : 0;
}

process.exitCode = await main();
