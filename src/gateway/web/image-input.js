// @ts-check
// The image: file picker, drag and drop, paste, preview.
import { $ } from './dom.js';
import { clearError } from './feedback.js';
import { state } from './state.js';

export function setFile(file) {
  if (!file) return;
  state.file = file;
  // Not revoked: the last result still shows the image it was computed from.
  state.fileUrl = URL.createObjectURL(file);
  const preview = $('preview');
  preview.hidden = false;
  preview.src = state.fileUrl;
  preview.alt = `Preview of ${file.name || 'the pasted image'}`;
  $('file-info').textContent = `Selected: ${file.name || 'pasted image'} (${Math.max(1, Math.round(file.size / 1024))} kB).`;
  clearError($('setup-error'));
}

export function setupInput() {
  const input = $('file');
  input.addEventListener('change', () => setFile(input.files?.[0]));
  const drop = $('drop');
  // The whole page accepts a drop, so a near miss does not navigate away to the file.
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('dragging');
  });
  document.addEventListener('dragleave', (e) => {
    if (e.relatedTarget === null) drop.classList.remove('dragging');
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('dragging');
    const file = [...(e.dataTransfer?.files ?? [])].find((f) => f.type.startsWith('image/')) ?? e.dataTransfer?.files?.[0];
    setFile(file);
  });
  document.addEventListener('paste', (e) => {
    const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
    if (file) {
      e.preventDefault();
      setFile(file);
    }
  });
  // A file the browser cannot show (TIFF, or not an image at all): no broken-image icon.
  $('preview').addEventListener('error', () => {
    $('preview').hidden = true;
  });
  $('img-original').addEventListener('error', () => {
    $('img-original').alt = 'This browser cannot display the uploaded format; the server can still explain it.';
  });
}
