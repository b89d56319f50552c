// @ts-check
// The web page: upload, explain, compare, tune. Built only on the public API (api.js);
// renderings are new URLs over a stored attribution, so changing how a map looks never starts a job.
// Each concern is a module of its own; this one wires them up at start.
import { ApiError, getApiKey, listMethods, setApiKey } from './api.js';
import { runCompare } from './compare-tab.js';
import { $ } from './dom.js';
import { runExplain } from './explain-tab.js';
import { Run, showError } from './feedback.js';
import { setupInput } from './image-input.js';
import { setupMethods, setupRenderControls } from './method-form.js';
import { setupMetrics } from './metrics.js';
import { loadModels } from './models.js';
import { runs, state } from './state.js';
import { setupTabs } from './tabs.js';
import { setupTargets } from './targets.js';
import { runTune } from './tune-tab.js';

async function main() {
  runs.explain = new Run('explain');
  runs.compare = new Run('compare');
  runs.tune = new Run('tune');
  const key = $('api-key');
  key.value = getApiKey();
  const details = /** @type {HTMLDetailsElement} */ (key.closest('details'));
  if (key.value) details.open = true;
  key.addEventListener('change', () => setApiKey(key.value));
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setApiKey(key.value);
  });
  setupInput();
  setupTabs();
  setupTargets();
  $('explain-form').addEventListener('submit', runExplain);
  $('compare-form').addEventListener('submit', runCompare);
  $('tune-form').addEventListener('submit', runTune);
  try {
    state.catalogue = await listMethods();
    setupMethods();
    setupMetrics(state.catalogue);
    setupRenderControls();
    await loadModels();
    document.body.dataset.ready = 'true';
  } catch (err) {
    showError($('setup-error'), err);
    if (err instanceof ApiError && err.code === 'SALIENCY_UNAUTHORIZED') {
      details.open = true;
      key.addEventListener('change', () => location.reload(), { once: true });
    }
  }
}

void main();
