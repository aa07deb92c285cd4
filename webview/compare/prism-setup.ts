// Must run before Prism loads: no automatic highlighting of the page, no worker message handler.
// Prism is only ever used through Prism.tokenize (see highlight.ts).
(globalThis as { Prism?: unknown }).Prism = { manual: true, disableWorkerMessageHandler: true };
