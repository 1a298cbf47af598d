// The live viewer: a page and a WebSocket that show each stream as the runtime sees it (docs/VIEWER.md).
export { ViewerServer, type ViewerOptions, type ViewerSource, type ViewerStats } from './server.js';
export { VIEWER_PAGE } from './page.js';
