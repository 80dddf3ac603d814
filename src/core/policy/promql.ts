// PromQL templates in policies: placeholders for the versions, namespace, window and slice labels,
// checked with Prometheus' own grammar (@prometheus-io/lezer-promql) when the policy is loaded, so that a
// typo is reported against the policy file, not discovered by a failing query mid-rollout.
import { parser } from "@prometheus-io/lezer-promql";

export const PLACEHOLDERS = ["version", "namespace", "window", "sliceLabels"] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type TemplateValues = Readonly<Record<Placeholder, string>>;

const PLACEHOLDER = /\{\{\s*([A-Za-z]+)\s*\}\}/g;

/** Values that make any well-formed template well-formed PromQL, for checking at load time. */
export const CHECK_VALUES: TemplateValues = {
  version: "stable|canary",
  namespace: "default",
  window: "1m",
  sliceLabels: "voice_id",
};

export interface Rendered {
  readonly text: string;
  /** Maps a position in `text` back to the template (placeholders map to their start). */
  readonly toTemplate: (pos: number) => number;
}

/**
 * Fill in a template. `{{sliceLabels}}` may stand in a `by (...)` list next to other labels; when the
 * metric has no slice labels it is removed together with a comma beside it.
 */
export function renderTemplate(template: string, values: TemplateValues): Rendered {
  const pieces: { from: number; to: number; out: number; outTo: number }[] = [];
  let text = "";
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    const name = m[1] as Placeholder;
    text += template.slice(last, m.index);
    let value = values[name] ?? m[0];
    if (name === "sliceLabels" && value === "") {
      // Drop a neighbouring comma so `by (le, {{sliceLabels}})` stays valid.
      if (/,\s*$/.test(text)) text = text.replace(/,\s*$/, "");
      else {
        const after = /^,\s*/.exec(template.slice(m.index + m[0].length));
        if (after) last = m.index + m[0].length + after[0].length;
      }
      value = "";
    }
    pieces.push({
      from: m.index,
      to: m.index + m[0].length,
      out: text.length,
      outTo: text.length + value.length,
    });
    text += value;
    last = Math.max(last, m.index + m[0].length);
  }
  text += template.slice(last);
  return {
    text,
    toTemplate(pos) {
      let shift = 0;
      for (const p of pieces) {
        if (pos < p.out) break;
        if (pos < p.outTo) return p.from;
        shift = p.to - p.outTo;
      }
      return pos + shift;
    },
  };
}

/** Placeholders a template uses that voicectl does not know. */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)]
    .map((m) => m[1]!)
    .filter((n) => !(PLACEHOLDERS as readonly string[]).includes(n));
}

/**
 * Problems with a template: unknown placeholders, and PromQL syntax errors with their column (1-based)
 * in the template as written.
 */
export function checkTemplate(template: string): string[] {
  const unknown = unknownPlaceholders(template);
  if (unknown.length > 0) {
    return [
      `unknown placeholder ${unknown.map((u) => `{{${u}}}`).join(", ")}: expected ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(", ")}`,
    ];
  }
  const rendered = renderTemplate(template, CHECK_VALUES);
  const errors: number[] = [];
  parser.parse(rendered.text).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(node.from);
    },
  });
  if (errors.length === 0) return [];
  const col = rendered.toTemplate(errors[0]!) + 1;
  const near = template.slice(Math.max(0, col - 1), col + 11);
  return [`PromQL syntax error at column ${col}${near ? ` (near "${near}")` : " (at the end)"}`];
}
