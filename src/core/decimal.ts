// Exact decimal arithmetic for summary-mode comparisons. `0.3 - 0.2 > 0.1` is true in binary floating point;
// a gate must still pass a worsening exactly on budget, so points are compared as decimals written by people.

/** value = coefficient * 10^-scale, exactly. */
export interface Decimal {
  readonly coefficient: bigint;
  readonly scale: number;
}

const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Parse `12`, `-0.015`, `1.5e-3`; null when the text is not a finite decimal number. */
export function parseDecimal(text: string): Decimal | null {
  const m = DECIMAL_TEXT.exec(text.trim());
  if (!m) return null;
  const [, sign = "", whole = "", fraction = "", exponent = "0"] = m;
  if (whole === "" && fraction === "") return null;
  const digits = `${whole}${fraction}`.replace(/^0+(?=\d)/, "");
  let scale = fraction.length - Number(exponent);
  let coefficient = BigInt(digits === "" ? "0" : digits);
  if (scale < 0) {
    coefficient *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { coefficient: sign === "-" ? -coefficient : coefficient, scale };
}

/** A JavaScript number as the decimal it prints as (the shortest text that reads back to it). */
export function decimalFromNumber(x: number): Decimal {
  const d = parseDecimal(String(x));
  if (!d) throw new RangeError(`not a finite number: ${x}`);
  return d;
}

function align(a: Decimal, b: Decimal): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [
    a.coefficient * 10n ** BigInt(scale - a.scale),
    b.coefficient * 10n ** BigInt(scale - b.scale),
    scale,
  ];
}

export function subtract(a: Decimal, b: Decimal): Decimal {
  const [x, y, scale] = align(a, b);
  return { coefficient: x - y, scale };
}

export function multiply(a: Decimal, b: Decimal): Decimal {
  return { coefficient: a.coefficient * b.coefficient, scale: a.scale + b.scale };
}

/** -1, 0 or 1. */
export function compare(a: Decimal, b: Decimal): -1 | 0 | 1 {
  const [x, y] = align(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function toNumber(d: Decimal): number {
  return Number(d.coefficient) / 10 ** d.scale;
}

export const ZERO: Decimal = { coefficient: 0n, scale: 0 };
