// The installed package's own files (the built-in scenario and the policies it names) are found from where
// this module is, never from the working directory: after `npm install -g`, `npm link` or through `npx`,
// voicectl runs from any directory.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The directory of voicectl's package.json: the first one named voicectl above this module, which is
 * src/cli/ when tests run the sources and dist/src/cli/ when the package is built or installed.
 */
export function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === "voicectl"
    )
      return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json of voicectl above ${here}`);
  }
}
