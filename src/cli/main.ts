#!/usr/bin/env node
import { processIo } from "./io.js";
import { run } from "./program.js";

// exitCode rather than process.exit(): let stdout drain when it is a pipe.
process.exitCode = await run(process.argv.slice(2), processIo());
