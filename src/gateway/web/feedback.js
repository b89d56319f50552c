// @ts-check
// Errors and progress: coded API errors with a hint, progress bars, one panel's run of jobs.
import { ApiError, cancelExplanation, submitExplanation, watchExplanation } from './api.js';
import { $, h } from './dom.js';
import { state } from './state.js';

/** What to do next, for the codes a newcomer meets most (errors.ts has the full catalogue). */
export const HINTS = {
  SALIENCY_UNAUTHORIZED: 'Open “API key” at the top of the page and enter a key.',
  SALIENCY_RATE_LIMITED: 'Wait a few seconds, then try again.',
  SALIENCY_IMAGE_UNREADABLE: 'Choose a JPEG, PNG, WebP, GIF, TIFF or AVIF image.',
  SALIENCY_IMAGE_UNSUPPORTED: 'Choose a JPEG, PNG, WebP, GIF, TIFF or AVIF image.',
  SALIENCY_RESULT_EXPIRED: 'Run the explanation again.',
  SALIENCY_NOT_FOUND: 'Run the explanation again.',
  SALIENCY_QUEUE_FULL: 'The server is busy; try again in a moment.',
  SALIENCY_UNAVAILABLE: 'The job backend is down; try again in a moment.',
  NETWORK: 'Check that the server is running.',
};

export function showError(box, err) {
  if (err?.name === 'AbortError') return;
  box.replaceChildren();
  if (err instanceof ApiError) {
    box.append(h('p', {}, h('strong', { class: 'code' }, err.code), ' ', err.message));
    if (HINTS[err.code]) box.append(h('p', { class: 'hint' }, HINTS[err.code]));
  } else {
    box.append(h('p', {}, String(err?.message ?? err)));
    if (!(err instanceof UserError)) console.error(err);
  }
}
export const clearError = (box) => box.replaceChildren();

/** A mistake on the page itself (nothing was sent). */
export class UserError extends Error {}

export function setProgress(bar, fraction, text) {
  const value = Math.round(Math.min(Math.max(fraction, 0), 1) * 100);
  bar.setAttribute('aria-valuenow', String(value));
  if (text) bar.setAttribute('aria-valuetext', text);
  else bar.removeAttribute('aria-valuetext');
  bar.firstElementChild.style.width = `${value}%`;
}

/**
 * One panel's run: its buttons, progress bar, status line and error box, and the jobs in flight
 * (so Cancel can DELETE them).
 */
export class Run {
  constructor(prefix) {
    this.runButton = $(`${prefix}-run`);
    this.cancelButton = $(`${prefix}-cancel`);
    this.bar = $(`${prefix}-progress`);
    this.status = $(`${prefix}-status`);
    this.error = $(`${prefix}-error`);
    this.ids = new Set();
    this.controller = undefined;
    this.cancelButton.addEventListener('click', () => this.cancel());
  }

  start() {
    this.controller?.abort();
    this.controller = new AbortController();
    this.ids.clear();
    clearError(this.error);
    setProgress(this.bar, 0);
    this.runButton.disabled = true;
    this.cancelButton.disabled = false;
    return this.controller.signal;
  }

  finish() {
    this.runButton.disabled = false;
    this.cancelButton.disabled = true;
  }

  get cancelled() {
    return this.controller?.signal.aborted ?? false;
  }

  async cancel() {
    const ids = [...this.ids];
    this.controller?.abort();
    this.status.textContent = 'Cancelling…';
    try {
      await Promise.all(ids.map((id) => cancelExplanation(id)));
      this.status.textContent = ids.length ? `Cancelled (${ids.length} job${ids.length > 1 ? 's' : ''} deleted).` : 'Cancelled.';
    } catch (err) {
      showError(this.error, err);
    }
    this.finish();
  }

  /** Submits one job and follows it to its end; failures become errors with the job's code. */
  async job(fields, onProgress) {
    if (!state.file) throw new UserError('Choose an image first: use the file picker, drop an image on the page, or paste one.');
    const signal = this.controller?.signal;
    const queued = await submitExplanation(state.file, fields, signal);
    this.ids.add(queued.id);
    onProgress(0, 'queued');
    const done = await watchExplanation(
      queued,
      (p) => onProgress(p.total > 0 ? p.done / p.total : 0, p.total > 0 ? `${p.done} of ${p.total} ${p.stage}` : p.stage),
      signal,
    );
    this.ids.delete(queued.id);
    if (done.status === 'failed') throw new ApiError(done.error?.code ?? 'SALIENCY_JOB_FAILED', done.error?.message ?? 'the job failed');
    if (done.status === 'cancelled') throw new ApiError('CANCELLED', 'the job was cancelled');
    onProgress(1, 'done');
    return done;
  }
}

/** Runs `fn` over `items`, at most `limit` at a time (the browser allows ~6 connections per host, and each job holds an event stream). */
export async function pool(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
