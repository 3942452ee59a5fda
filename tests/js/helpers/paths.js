// Paths shared by the Jest suites, relative to the repository root.
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..', '..');
module.exports = {
  root,
  vectors: path.join(root, 'tests', 'vectors'),
  tollgate: path.resolve(root, process.env.TOLLGATE_BIN || path.join('build', 'bin', 'tollgate')),
  sdkDist: path.join(root, 'sdk-wasm', 'dist'),
};
