// The documented Node example runs as shipped.
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { root } = require('../helpers/paths');

test('examples/node-backend runs and prints what the docs promise', () => {
  const out = execFileSync(process.execPath, [path.join(root, 'examples/node-backend/index.mjs')], { cwd: root }).toString();
  expect(out).toMatch(/^token: tg_rt_/m);
  expect(out).toContain('for user: user_123');
  expect(out).toContain('scope check: token_scope_denied');
  expect(out).toContain('Printer on fire {{secret}}');
  expect(out).toContain('cost: 0.0123 USD = 2 credits');
  expect(out).toContain('partial: {"title":"Printer"}');
  expect(out).toContain('partial: {"priority":2,"steps":["unplug"],"title":"Printer on fire"}');
  expect(out).toContain('final: {"priority":2,"steps":["unplug it"],"title":"Printer on fire"}');
});
