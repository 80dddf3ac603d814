// The JSON Schema of policy files, generated from the one zod schema. Apart from the command module so that
// building the command tree does not load zod (bench/startup); `policy schema` and scripts/gen-schema use it.
import { z } from "zod";
import { policySchema } from "../../../core/policy/schema.js";

/** The JSON Schema editors use for policy files, generated from the one zod schema. */
export function policyJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(policySchema, { io: "input", unrepresentable: "any" }),
    $id: "https://voicectl.dev/schemas/rolloutpolicy.schema.json",
    title: "voicectl RolloutPolicy",
  };
}
