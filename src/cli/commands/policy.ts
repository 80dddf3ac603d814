// `voicectl policy validate|schema`: check policy files before they reach CI or a cluster.
import { Option, type Command } from "commander";
import { formatProblem } from "../../core/errors.js";
import { EXIT } from "../exit-codes.js";
import type { CliIo } from "../io.js";

export function registerPolicy(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const policy = program.command("policy").summary("check and describe RolloutPolicy files");

  policy
    .command("validate")
    .summary("report every problem in policy files, with file, line and field path")
    .description(
      "Validate RolloutPolicy files. Every problem of every file is reported at once.\n\nExit codes: 0 all valid, 65 a policy is invalid, 66 a file is missing or unreadable.",
    )
    .argument("<file...>", "policy YAML files (a file may hold several documents separated by ---)")
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
    .action(async (files: string[], opts: { output: "text" | "json" }) => {
      // Loaded when used, not when the command tree is built (bench/startup).
      const { validatePolicyFiles } = await import("../../adapters/files/policy-file.js");
      const { valid, problems, missing } = await validatePolicyFiles(files);
      if (opts.output === "json") {
        io.stdout(
          JSON.stringify(
            {
              valid: valid.map((v) => ({
                file: v.file,
                name: v.policy.metadata.name,
                metrics: v.policy.spec.metrics.length,
              })),
              problems: [...missing, ...problems],
            },
            null,
            2,
          ) + "\n",
        );
      } else {
        for (const v of valid)
          io.stdout(
            `${v.file}: ok (policy ${v.policy.metadata.name}, ${v.policy.spec.metrics.length} metrics)\n`,
          );
        for (const p of [...missing, ...problems]) io.stderr(`${formatProblem(p)}\n`);
      }
      setExit(problems.length > 0 ? EXIT.dataError : missing.length > 0 ? EXIT.noInput : 0);
    });

  policy
    .command("schema")
    .summary("print the JSON Schema of RolloutPolicy files (for editors)")
    .action(async () => {
      const { policyJsonSchema } = await import("./policy/json-schema.js");
      io.stdout(JSON.stringify(policyJsonSchema(), null, 2) + "\n");
    });
}
