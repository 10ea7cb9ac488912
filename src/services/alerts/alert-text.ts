// What every alert's `text` is made of: exact money as people read it, and names Slack shows as written.

/** "$8.00", "$0.000222", "-$1.50": cents always shown, every exact digit kept. */
export function dollars(amount: string): string {
  const negative = amount.startsWith('-');
  const [whole, fraction = ''] = (negative ? amount.slice(1) : amount).split('.');
  return `${negative ? '-' : ''}$${whole}.${fraction.padEnd(2, '0')}`;
}

/** Slack reads &, < and > as markup in `text`. */
export function slackSafe(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
