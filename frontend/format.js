/**
 * How the tab writes numbers for people. One module, so the browser tests load it in the page and
 * compare what the tab shows with what it would write, instead of re-implementing it.
 */

/** 3 significant digits, an exponent only when really small or large: 0.123, 12.3, 1.23e+4. */
export function formatNumber(value) {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e4)) return value.toExponential(2);
  return String(Number(value.toPrecision(3)));
}

/** A fraction as a percentage with one decimal: 0.1234 gives "12.3%". */
export function formatPercent(fraction) {
  return `${(fraction * 100).toFixed(1)}%`;
}

/** [16, 14, 14] gives "16×14×14"; anything else "?". */
export function formatShape(shape) {
  return Array.isArray(shape) ? shape.join("×") : "?";
}
