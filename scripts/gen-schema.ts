// Writes schemas/rolloutpolicy.schema.json from the zod schema (editors use it for completion and checks).
// A test fails when the committed file differs from what this writes, so the two cannot drift.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { policyJsonSchema } from "../src/cli/commands/policy/json-schema.js";

const out = join(dirname(fileURLToPath(import.meta.url)), "../../schemas/rolloutpolicy.schema.json");
writeFileSync(out, JSON.stringify(policyJsonSchema(), null, 2) + "\n");
process.stdout.write(`wrote ${out}\n`);
