// @ts-check
// What the page holds between events: the chosen file, the method catalogue, results per tab.

/**
 * An explanation as GET /v1/explanations/:id returns it (the fields the page reads).
 * @typedef {{ id: string, method: string, status: string, attribution?: { kind?: string }, timings: { computeMs?: number }, [key: string]: any }} Explanation
 */

/**
 * One result cell of the Compare or Tune grid.
 * @typedef {object} Cell
 * @property {string} title
 * @property {HTMLImageElement} img
 * @property {HTMLCanvasElement} bar
 * @property {HTMLElement} ticks
 * @property {HTMLElement} legend
 * @property {HTMLElement} note
 * @property {HTMLElement} figure
 * @property {Explanation | undefined} explanation
 * @property {number} fraction
 * @property {boolean} [failed]
 * @property {string[]} [extra]
 * @property {{ title: string, key: string, fields: Record<string, string> }} [entry] Compare: the method
 * @property {number} [noise] Tune: the row's noise
 * @property {number} [samples] Tune: the column's sample count
 * @property {number} [target] Explain: the class of a multi-class job this cell shows
 */

/**
 * @typedef {object} PageState
 * @property {File | undefined} file
 * @property {string | undefined} fileUrl
 * @property {any} catalogue GET /v1/methods (the page reads its methods and render schemas)
 * @property {any} model GET /v1/models/:id
 * @property {{ explanation: Explanation, fields: Record<string, string>, fileUrl: string | undefined, cells: Cell[] } | undefined} explain
 * @property {Cell[]} compare
 * @property {{ cells: Cell[], noises: number[], samples: number[], method?: string }} tune
 * @property {{ title: string, key: string, fields: Record<string, string> }[]} [compareEntries]
 */

/** @type {PageState} */
export const state = {
  file: undefined,
  fileUrl: undefined,
  catalogue: undefined,
  model: undefined,
  explain: undefined,
  compare: [],
  tune: { cells: [], noises: [], samples: [] },
};

/**
 * The three panels' runs (Explain, Compare, Tune), created at start.
 * @type {Record<'explain' | 'compare' | 'tune', import('./feedback.js').Run>}
 */
export const runs = /** @type {any} */ ({});
