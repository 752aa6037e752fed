// A compact end-of-test text summary (stand-in for jslib's k6-summary, which needs a remote import).
function fmt(v, contains) {
  if (typeof v !== 'number') return String(v);
  if (contains === 'time') return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(2)}ms`;
  if (contains === 'data') return v >= 1048576 ? `${(v / 1048576).toFixed(1)}MiB` : `${(v / 1024).toFixed(1)}KiB`;
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}

export function textSummary(data) {
  const names = Object.keys(data.metrics).sort();
  const width = Math.max(...names.map((n) => n.length)) + 2;
  const lines = [];
  for (const name of names) {
    const m = data.metrics[name];
    let vals;
    if (m.type === 'trend') {
      const order = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'];
      const keys = Object.keys(m.values).sort((a, b) => (order.indexOf(a) + 99) % 99 - (order.indexOf(b) + 99) % 99);
      vals = keys.map((k) => `${k}=${k === 'count' ? m.values[k] : fmt(m.values[k], m.contains)}`).join(' ');
    } else if (m.type === 'counter') {
      vals = `${fmt(m.values.count, m.contains)} (${m.values.rate.toFixed(2)}/s)`;
    } else if (m.type === 'rate') {
      vals = `${(m.values.rate * 100).toFixed(2)}% (${m.values.passes} of ${m.values.passes + m.values.fails})`;
    } else {
      vals = fmt(m.values.value, m.contains);
    }
    lines.push(`  ${name.padEnd(width, '.')} ${vals}`);
  }
  return lines.join('\n') + '\n';
}
