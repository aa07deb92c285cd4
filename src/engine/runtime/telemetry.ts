/**
 * ONNX Runtime ≥ 1.29 on Linux starts Microsoft's telemetry client when its environment is created: it sends
 * usage events over the network, and it matches /proc/self/cmdline against a backtracking std::regex that
 * recurses once per character, so a command line of ~30 000 characters (a long --prefix or --stop) overflows
 * the stack and kills the process with SIGSEGV. ORT_DISABLE_TELEMETRY=1 turns the client off.
 */

/**
 * Turns ONNX Runtime's telemetry off for this process. ORT reads the real environment once, when the first
 * session is created; a worker thread's process.env is a private copy, so the thread that starts a worker
 * calls this before it does.
 */
export function disableOrtTelemetry(): void {
  process.env.ORT_DISABLE_TELEMETRY = '1';
}
