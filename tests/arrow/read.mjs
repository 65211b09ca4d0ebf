// read.mjs FILE — prints an Arrow IPC file read by apache-arrow JS as JSON:
// {"fields": [{"name", "type", "nullable"}], "metadata": {...}, "rows": [[...], ...]}
// (bigints as strings, NaN / Infinity as strings, Dates as epoch milliseconds).
import { tableFromIPC } from '../../third_party/node_modules/apache-arrow/Arrow.node.mjs';
import { readFileSync } from 'fs';

const t = tableFromIPC(readFileSync(process.argv[2]));
const conv = (v) => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v); // NaN, Infinity, -Infinity
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'object' && typeof v.toArray === 'function') return Array.from(v.toArray(), conv);
  return v;
};
const fields = t.schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable }));
const rows = [];
for (let i = 0; i < t.numRows; i++) rows.push(t.schema.fields.map((f, j) => conv(t.getChildAt(j).get(i))));
console.log(JSON.stringify({ fields, metadata: Object.fromEntries(t.schema.metadata), numRows: t.numRows, rows }));
