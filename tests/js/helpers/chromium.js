// Real headless Chromium (Debian's /usr/bin/chromium) through playwright-core, with a fresh
// profile per run (a persistent context is how Playwright takes --user-data-dir). close() ends
// the browser and removes the profile.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

async function launchChromium() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    browser,
    async close() {
      await browser.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

module.exports = { launchChromium };
