// Bytes in shared memory. A Uint8Array over a SharedArrayBuffer crosses postMessage by reference:
// the in-memory store keeps its large blobs this way, so a job thread reads an input and hands back
// its result without either side copying a tensor (a structured clone of 600 kB also allocated it
// again on the receiving thread, and those allocations drove the gateway's garbage collections).

/** Below this a blob is copied the ordinary way: a SharedArrayBuffer per marker would cost more than it saves. */
export const SHARED_MIN_BYTES = 4096;

/** A copy of `bytes`: in a SharedArrayBuffer of exactly its size when it is large. */
export function shareableCopy(bytes: Uint8Array): Buffer {
  if (bytes.byteLength < SHARED_MIN_BYTES) return Buffer.from(bytes);
  const copy = Buffer.from(new SharedArrayBuffer(bytes.byteLength));
  copy.set(bytes);
  return copy;
}

/** True when `bytes` is the whole of a SharedArrayBuffer (no wider view of its memory exists). */
export function isWholeShared(bytes: Uint8Array): boolean {
  return bytes.buffer instanceof SharedArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}
