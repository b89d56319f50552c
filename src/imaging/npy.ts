// NumPy .npy (format 1.0/2.0) for float32 C-order arrays: what numpy.save writes and numpy.load
// reads. https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
export interface NpyArray {
  data: Float32Array;
  shape: number[];
}

export class NpyError extends Error {
  override name = 'NpyError';
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** What a float32 .npy header says: the array's shape and where its data starts (checked against the length). */
export interface NpyHeader {
  shape: number[];
  /** Byte offset of the first value. */
  offset: number;
}

/** Reads and checks the header only (the gateway's shape check): no copy of the data. */
export function readNpyHeader(bytes: Uint8Array): NpyHeader {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) throw new NpyError('not a .npy file (bad magic bytes)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLength > bytes.length) throw new NpyError('truncated .npy header');
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new NpyError('malformed .npy header');
  if (descr !== '<f4' && descr !== '|f4') throw new NpyError(`the array is ${descr}, expected float32 ('<f4'); convert it with a.astype(np.float32)`);
  if (fortran === 'True') throw new NpyError('the array is in Fortran order; save it with np.ascontiguousarray');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new NpyError(`malformed .npy shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLength;
  if (bytes.length - offset < count * 4) throw new NpyError(`truncated .npy data: expected ${count} float32 values`);
  return { shape, offset };
}

export function decodeNpy(bytes: Uint8Array): NpyArray {
  const { shape, offset } = readNpyHeader(bytes);
  const count = shape.reduce((a, b) => a * b, 1);
  // Copy into an aligned buffer (the data offset need not be 4-byte aligned in the source).
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes.subarray(offset, offset + count * 4));
  return { data, shape };
}

export function encodeNpy(array: NpyArray): Uint8Array {
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad with spaces so the data starts on a 64-byte boundary, newline-terminated.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + array.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength), 10 + header.length);
  return out;
}
