// Headless Chromium for the browser tests, driven line by line: reads one
// JSON command a line on stdin, answers one JSON line on stdout
// ({"ok":true,"value":...} or {"ok":false,"error":"..."}), so that a Perl
// test keeps the devices, the gateway and the assertions, and the browser
// only does what a person at the page would.
//
//   {"cmd":"open","url":"http://..."}      launch Chromium, load the page
//   {"cmd":"eval","js":"expression"}       its value (JSON-able)
//   {"cmd":"wait","js":"expression","timeout":20}
//                                          until it is truthy: its value
//   {"cmd":"click","selector":"css"}       a real click (mouse events)
//   {"cmd":"type","text":"abc"}            keystrokes to the focused element
//   {"cmd":"errors"}                       uncaught page errors so far
//   {"cmd":"screenshot","path":"f.png"}
//   {"cmd":"quit"}
//
// puppeteer-core comes from build/browser (tools/install-deps.sh), or
// FCFH_PUPPETEER; the browser is FCFH_CHROMIUM or /usr/bin/chromium.
'use strict';

const path = require('path');
const readline = require('readline');

const puppeteer = require(process.env.FCFH_PUPPETEER
    || path.join(__dirname, '../../build/browser/node_modules/puppeteer-core'));

let browser = null;
let page = null;
const errors = [];

async function run(c) {
    switch (c.cmd) {

    case 'open':
        browser = await puppeteer.launch({
            executablePath: process.env.FCFH_CHROMIUM || '/usr/bin/chromium',
            headless: true,
            args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                   '--no-first-run', '--disable-extensions'],
            protocolTimeout: 120000
        });
        page = await browser.newPage();
        page.setDefaultTimeout(60000);
        page.on('pageerror', (e) => errors.push(String(e && e.message)));
        await page.setViewport({ width: 1280, height: 900 });
        await page.goto(c.url, { waitUntil: 'load' });
        return page.url();

    case 'eval':
        return page.evaluate(c.js);

    case 'wait': {
        const h = await page.waitForFunction(c.js, {
            polling: 100, timeout: (c.timeout || 20) * 1000
        });
        return h.jsonValue();
    }

    case 'click':
        await page.click(c.selector);
        return true;

    case 'type':
        await page.keyboard.type(c.text, { delay: 20 });
        return true;

    case 'errors':
        return errors;

    case 'screenshot':
        await page.screenshot({ path: c.path, fullPage: true });
        return c.path;

    case 'quit':
        if (browser) {
            await browser.close();
            browser = null;
        }
        return true;

    default:
        throw new Error('unknown command ' + c.cmd);
    }
}

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();

function answer(o) {
    process.stdout.write(JSON.stringify(o) + '\n');
}

rl.on('line', (line) => {
    chain = chain.then(async () => {
        let c;

        try {
            c = JSON.parse(line);
            answer({ ok: true, value: await run(c) });
        } catch (e) {
            answer({ ok: false, error: String(e && e.message || e) });
        }

        if (c && c.cmd === 'quit') {
            process.exit(0);
        }
    });
});

rl.on('close', () => {
    chain.then(async () => {
        if (browser) {
            await browser.close().catch(() => {});
        }
        process.exit(0);
    });
});
