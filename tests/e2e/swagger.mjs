// Swagger UI as a person uses it: Authorize with the sandbox's token, then "Try it out" and
// "Execute" on every operation, and read the status each one answered. The operations on one
// campaign act on three made beforehand (one to cancel, one to pause and resume, a finished dry
// run to archive and unarchive).
// Usage: node swagger.mjs <swagger-ui-url> <token> [screenshot.png]
import { chromium } from 'playwright-core';

const [url, token, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 2400 } });
  await page.goto(url);
  await page.waitForSelector('.opblock');

  await page.click('button.authorize');
  await page.fill('.modal-ux input[type=text], .modal-ux input:not([type])', token);
  await page.click('.modal-ux button.authorize');
  await page.click('.modal-ux button.btn-done');

  const api = new URL(url).origin;
  const campaign = async (name, dryRun = false) => {
    const body = dryRun ? { name, dryRun, source: { emails: ['grace+hr@example.com'] } }
      : { name, startAt: '2099-01-01T00:00:00Z', source: { emails: ['grace+hr@example.com'] } };
    const answer = await fetch(`${api}/v1/campaigns`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (answer.status !== 201) failures.push(`creating the campaign ${name}: ${answer.status}`);
    return (await answer.json()).id;
  };
  const toCancel = await campaign('e2e cancel');
  const toSteer = await campaign('e2e pause and resume');
  const toArchive = await campaign('e2e dry run to archive', true);
  // Only a finished dry run can be archived: wait for it (one address, a moment).
  for (let i = 0; i < 100; i += 1) {
    const answer = await fetch(`${api}/v1/campaigns/${toArchive}`, { headers: { authorization: `Bearer ${token}` } });
    if ((await answer.json()).state === 'completed') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const blocks = await page.$$('.opblock');
  let tried = 0;
  for (const block of blocks) {
    const path = (await block.$eval('.opblock-summary-path', (e) => e.getAttribute('data-path'))) || '';
    const method = (await block.$eval('.opblock-summary-method', (e) => e.textContent)).trim();
    if (!path.startsWith('/v1/')) continue;
    await (await block.$('.opblock-summary-control, .opblock-summary')).click();
    await block.waitForSelector('.try-out__btn');
    await block.$eval('.try-out__btn', (e) => e.click());
    await block.waitForSelector('.execute');
    if (path.includes('{id}')) {
      // Typed as a person would, once "Try it out" has rendered the editable field.
      const input = await block.waitForSelector('input[placeholder="id"]:not([disabled])');
      await input.click();
      // A finished dry run is archived, unarchived, run for real and resolved.
      const archiving = ['/archive', '/unarchive', '/run', '/resolution'].some((end) => path.endsWith(end));
      await input.type(path.endsWith('/cancel') ? toCancel : archiving ? toArchive : toSteer);
      // Swagger UI takes a field's value only after its input debounce (300 ms).
      await page.waitForTimeout(600);
    }
    if (path === '/v1/campaigns/roster') {
      // The roster upload: a file as its body and the campaign's name, as a person would.
      const name = await block.waitForSelector('input[placeholder="name"]:not([disabled])');
      await name.click();
      await name.type('e2e roster');
      const file = await block.waitForSelector('input[type=file]');
      await file.setInputFiles({
        name: 'roster.csv', mimeType: 'text/csv', buffer: Buffer.from('email\ngrace+hr@example.com\n'),
      });
      await page.waitForTimeout(600);
    }
    await block.$eval('.execute', (e) => e.click());
    // The server's answer appears in the live responses table once the request completed.
    const cell = await block.waitForSelector('.live-responses-table tr.response .response-col_status', { timeout: 15000 });
    const status = (await cell.textContent()).trim().split(/\s+/)[0];
    const curl = await block.$eval('.curl', (e) => e.textContent);
    const sentToken = curl.includes(`Bearer ${token}`);
    console.log(`${method} ${path} -> ${status}${sentToken ? '' : ' (no bearer token sent!)'}`);
    const ok = /^20[01]$/.test(status);
    if (!ok) console.log(curl.replace(token, 'TOKEN'));
    if (!ok || !sentToken) failures.push(`${method} ${path}: ${status}`);
    tried += 1;
  }
  if (tried !== 27) failures.push(`expected 27 /v1 operations, tried ${tried}`);
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: false });
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`Swagger UI failures:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log('Swagger UI: Authorize and Try it out work for every operation.');
