// Paths shared by the Jest suites, relative to the repository root.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..', '..');
const tollgate = path.resolve(root, process.env.TOLLGATE_BIN || path.join('build', 'bin', 'tollgate'));
// The same server on glibc's malloc, built beside a jemalloc one: libfaketime cannot be
// preloaded into the jemalloc build (each one's start-up waits for the other). Sanitizer builds
// have no jemalloc and no such twin.
const libcMalloc = path.join(path.dirname(tollgate), 'tollgate-libc-malloc');
module.exports = {
  root,
  vectors: path.join(root, 'tests', 'vectors'),
  tollgate,
  tollgateForFaketime: fs.existsSync(libcMalloc) ? libcMalloc : tollgate,
  sdkDist: path.join(root, 'sdk-wasm', 'dist'),
};
