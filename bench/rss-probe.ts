// Peak memory of a benchmarked child when /usr/bin/time is not installed: preloaded with
// `node --import <this file> ...`, it writes the process's peak resident set size (kilobytes, from getrusage)
// and its CPU time (user + system, microseconds) to the file named by VOICECTL_BENCH_RSS_FILE as it exits.
import { writeFileSync } from "node:fs";

const target = process.env["VOICECTL_BENCH_RSS_FILE"];
if (target) {
  process.on("exit", () => {
    const usage = process.resourceUsage();
    writeFileSync(target, `${usage.maxRSS} ${usage.userCPUTime + usage.systemCPUTime}\n`);
  });
}
