// Types of the module the server generates at /web/colormap-tables.js from
// src/imaging/colormap-tables.ts (the page and the server read one copy of the tables).
export { COLORMAP_TABLES } from '../../imaging/colormap-tables.js';
