// write.mjs FILE — writes a table of several types with nulls through
// apache-arrow JS (tableToIPC(table, "file")) for floe's reader to check.
import {
  Table, vectorFromArray, tableToIPC, Int8, Int32, Int64, Uint16, Float32, Float64, Utf8, Bool,
  Dictionary, TimestampMillisecond, TimestampMicrosecond, DateDay,
} from '../../third_party/node_modules/apache-arrow/Arrow.node.mjs';
import { writeFileSync } from 'fs';

const t = new Table({
  i8: vectorFromArray([-1, 2, 127], new Int8()),
  i32: vectorFromArray([1, null, 3], new Int32()),
  i64: vectorFromArray([1n, -2n, 9007199254740993n], new Int64()),
  u16: vectorFromArray([0, 65535, 7], new Uint16()),
  f32: vectorFromArray([0.5, -1.5, 2], new Float32()),
  f64: vectorFromArray([1.5, NaN, null], new Float64()),
  s: vectorFromArray(['a', null, 'üñí€😀'], new Utf8()),
  b: vectorFromArray([true, false, null], new Bool()),
  b2: vectorFromArray([true, false, true], new Bool()),
  cat: vectorFromArray(['x', 'y', 'x'], new Dictionary(new Utf8(), new Int32())),
  ts: vectorFromArray([new Date(0), new Date(1500), null], new TimestampMillisecond()),
  tsu: vectorFromArray([1, 2, 3], new TimestampMicrosecond()),
  d: vectorFromArray([new Date(Date.UTC(2020, 0, 2)), null, new Date(Date.UTC(1969, 11, 31))], new DateDay()),
});
writeFileSync(process.argv[2], tableToIPC(t, 'file'));
