// Writes charts/voicectl/crds/<plural>.voicectl.dev.yaml from the zod schemas (src/core/resource/crd.ts).
// A test fails when the committed files differ from what this writes, so the two cannot drift.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { allCrds, crdFileName, crdYaml, CrdSchemaError } from "../src/core/resource/crd.js";

const dir = join(dirname(fileURLToPath(import.meta.url)), "../../charts/voicectl/crds");
try {
  const crds = allCrds();
  mkdirSync(dir, { recursive: true });
  for (const crd of crds) {
    const out = join(dir, crdFileName(crd));
    writeFileSync(out, crdYaml(crd));
    process.stdout.write(`wrote ${out}\n`);
  }
} catch (e) {
  // A schema the API server could not take: say which field, not where in this script.
  if (e instanceof CrdSchemaError) {
    process.stderr.write(`gen-crds: ${e.message}\n`);
    process.exitCode = 1;
  } else throw e;
}
