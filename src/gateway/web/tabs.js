// @ts-check
// Tab switching (ARIA tabs with arrow keys).
import { $ } from './dom.js';

export function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')].filter((t) => t instanceof HTMLElement);
  const select = (tab, focus) => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute('aria-selected', String(selected));
      t.tabIndex = selected ? 0 : -1;
      $(t.getAttribute('aria-controls') ?? '').hidden = !selected;
    }
    // One set of rendering controls, shown next to the results of the visible panel.
    $(tab.getAttribute('aria-controls') ?? '')
      .querySelector('.render-slot')
      ?.append($('render'));
    if (focus) tab.focus();
  };
  for (const tab of tabs) {
    tab.addEventListener('click', () => select(tab, false));
    tab.addEventListener('keydown', (/** @type {KeyboardEvent} */ e) => {
      const i = tabs.indexOf(tab);
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      select(tabs[(next + tabs.length) % tabs.length], true);
    });
  }
  select(tabs[0], false);
}
