// @ts-check
// What the page holds between events: the chosen file, the method catalogue, results per tab.

export const state = {
  file: undefined,
  fileUrl: undefined,
  /** GET /v1/methods */
  catalogue: undefined,
  model: undefined,
  explain: undefined,
  compare: [],
  tune: { cells: [], noises: [], samples: [] },
};

/** The three panels' runs (Explain, Compare, Tune), created at start. */
export const runs = {};
