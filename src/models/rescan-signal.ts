// "MODELS_DIR changed": the process that receives SIGHUP tells every worker thread of the process
// (the embedded queue's, BullMQ's sandboxed ones) over one BroadcastChannel, so each drops its
// registry and reads the folder again before its next job.
import { BroadcastChannel } from 'node:worker_threads';

const CHANNEL = 'saliency:models-rescan';
let sender: BroadcastChannel | undefined;

export function announceRescan(): void {
  if (!sender) {
    sender = new BroadcastChannel(CHANNEL);
    sender.unref();
  }
  sender.postMessage('rescan');
}

/** Calls `listener` on every announced rescan; the channel never keeps a thread alive. */
export function onRescan(listener: () => void): () => void {
  const channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = () => listener();
  channel.unref();
  return () => channel.close();
}
