// The page at / (lib/server/page-routes.ts, assets/page/) in a real browser: Debian's chromium driven by
// puppeteer-core, against real servers on loopback. It uploads one of the embedded model's test images and reads the
// labels the page shows (they must be /v1/classify's top k for that image), checks that the overlay picture is drawn
// (decoded, and not one flat colour), that the model picker lists a server's models, and that a model which cannot
// take images, and a server still loading, are each told in words instead of offering an upload that would fail.
// One screenshot of the answered page goes to a temporary file (its path is logged).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import puppeteer from 'puppeteer-core';
import type { Browser, Page } from 'puppeteer-core';
import { Classifier, defaultClassifier, defaultModelDir, defaultModelImages, preprocessorFor } from '../lib';
import { request, startServer } from './server-fixtures';
import type { RunningServer } from './server-fixtures';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

let browser: Browser;
let page: Page;
let server: RunningServer;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
  }
  // Two copies of the embedded model, so that the page offers its model picker.
  const dir = defaultModelDir();
  [server, browser] = await Promise.all([
    startServer({ models: { fashion: dir, 'fashion-copy': dir } }),
    puppeteer.launch({
      executablePath: CHROMIUM,
      // CI runs as root, where Chromium's sandbox cannot start.
      args: ['--no-sandbox', '--headless=new'],
      headless: true,
    }),
  ]);
  page = await browser.newPage();
}, 30_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

test("an uploaded image shows /v1/classify's top classes and the attention overlay", async () => {
  const image = defaultModelImages()[0];
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(String(error)));
  // A Content-Security-Policy refusal is reported on the console.
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#upload:not([hidden])');
  expect(await page.$$eval('#model option', (options) => options.map((o) => o.textContent))).toEqual([
    'fashion',
    'fashion-copy',
  ]);
  expect(await page.$eval('#model-picker', (picker) => picker.hidden)).toBe(false);
  expect(await page.$eval('#metadata-link', (a) => a.getAttribute('href'))).toBe('/v2/models/fashion');

  const input = await page.$('#file');
  await (input as unknown as { uploadFile(file: string): Promise<void> }).uploadFile(image.file);
  await page.waitForSelector('#result:not([hidden])', { timeout: 10_000 });
  const shown = await page.$$eval('#top li', (items) =>
    items.map((item) => ({
      label: item.querySelector('.label')?.textContent,
      percent: item.querySelector('.probability')?.textContent,
    })),
  );
  const reference = await request(`${server.url}/v1/classify?model=fashion`, { body: fs.readFileSync(image.file) });
  const top: { label: string; probability: number }[] = reference.json().top;
  expect(shown).toEqual(top.map((t) => ({ label: t.label, percent: `${(t.probability * 100).toFixed(1)}%` })));
  expect(shown[0].label).toBe(image.label);

  // The overlay decoded, and drawn: its pixels read back through a canvas are not all one colour.
  const overlay = await page.$eval('#overlay', (img) => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d')!;
    context.drawImage(img, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set<number>();
    for (let i = 0; i < data.length && colours.size < 64; i += 4) {
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    }
    return { width: img.naturalWidth, height: img.naturalHeight, colours: colours.size };
  });
  // The 28 x 28 image enlarged by a whole factor to at least 224 (renderExplanation's minSide).
  expect(overlay).toEqual({ width: 224, height: 224, colours: 64 });
  expect(problems).toEqual([]);

  const screenshot = path.join(os.tmpdir(), `vitorch-page-${process.pid}.png`);
  await page.screenshot({ path: screenshot, fullPage: true });
  expect(fs.statSync(screenshot).size).toBeGreaterThan(1000);
  console.log(`screenshot of the answered page: ${screenshot}`);
}, 30_000);

test('a model that cannot take images is explained, not offered an upload', async () => {
  // The embedded model (one channel, 28 x 28) handed over with preprocessing for 3-channel 32 x 32 images.
  const classifier = await defaultClassifier();
  const preprocessor = preprocessorFor({ model: {}, classes: [], preprocess: { size: [32, 32], channels: 3 } });
  const mismatched = new Classifier(classifier.model, classifier.classes, preprocessor);
  const other = await startServer({ classifier: mismatched });
  try {
    const tab = await browser.newPage();
    await tab.goto(`${other.url}/`);
    await tab.waitForSelector('#message.problem');
    expect(await tab.$eval('#message', (m) => m.textContent)).toBe(
      "This page cannot classify images with model 'vit': model 'vit' takes inputs of shape [1, 28, 28] but its " +
        'image preprocessing makes [3, 32, 32]: it takes tensors only, at /v2/models/vit/infer',
    );
    expect(await tab.$eval('#upload', (form) => form.hidden)).toBe(true);
    await tab.close();
  } finally {
    await other.close();
    classifier.dispose();
  }
}, 30_000);

test('while the server loads, the page says so and waits', async () => {
  const tab = await browser.newPage();
  await tab.setRequestInterception(true);
  // The server's answer in its loading phase (server-models tests hold the real one), without holding a real load.
  tab.on('request', (intercepted) => {
    if (new URL(intercepted.url()).pathname !== '/v1/models') return void intercepted.continue();
    void intercepted.respond({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({
        phase: 'loading',
        ready: false,
        default: 'vit',
        models: [{ name: 'vit', state: 'LOADING' }],
      }),
    });
  });
  await tab.goto(`${server.url}/`);
  await tab.waitForFunction(() => document.getElementById('message')?.textContent?.includes('loading'));
  expect(await tab.$eval('#message', (m) => m.textContent)).toBe(
    'The server is still loading its models; this page will be ready when they are.',
  );
  expect(await tab.$eval('#upload', (form) => form.hidden)).toBe(true);
  await tab.close();
}, 30_000);

test('the page and its files carry a Content-Security-Policy of this origin only', async () => {
  const html = await request(`${server.url}/`);
  expect(html.status).toBe(200);
  expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(html.headers.get('content-security-policy')).toContain("script-src 'self'");
  expect(html.body.toString()).not.toMatch(/https?:\/\//);
  const script = await request(`${server.url}/page/page.js`);
  expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
});
