/*
 * Drives the browser test pages (t/browser/*.html) in headless Chromium
 * through puppeteer-core and reports, as one JSON line per scenario, the
 * steps that passed or failed, for a Perl test to turn into TAP.
 *
 *   node browser-console.js SPEC.json
 *
 * SPEC: {"modules": "<dir with node_modules>", "chromium": "/usr/bin/chromium",
 *        "scenarios": [{"name", "url", "kind": "sol"|"kvm", "timeout": s,
 *                       "banner": "regex", "type": "text",
 *                       "width": W, "height": H}]}
 *
 * sol: the banner appears in the terminal, then the text typed with the
 * keyboard comes back (the simulator echoes it).  kvm: the canvas has the
 * simulator's size and shows one whole frame of its picture, then a later
 * frame, each pixel as the picture says (page's FCFH.check()).  Every
 * condition is polled until it holds, the console gives up (its state
 * back to 0) or the timeout passes; nothing sleeps for a fixed time.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const puppeteer = require(path.join(spec.modules, 'node_modules', 'puppeteer-core'));

function now() { return Date.now(); }

async function poll(page, fn, arg, timeoutMs) {
    const end = now() + timeoutMs;
    let last;
    for (;;) {
        last = await page.evaluate(fn, arg).catch((e) => ({ error: String(e) }));
        if (last && (last.done || last.stopped)) {
            return last;
        }
        if (now() > end) {
            return Object.assign({ timeout: true }, last || {});
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}

async function solSteps(page, sc, step) {
    const t = (sc.timeout || 30) * 1000;
    let r = await poll(page, (re) => {
        const text = window.FCFH && window.FCFH.text ? window.FCFH.text() : '';
        return { done: new RegExp(re).test(text), text: text.trim().slice(0, 300),
                 state: window.FCFH ? window.FCFH.state : null,
                 stopped: !!(window.FCFH && window.FCFH.stopped) };
    }, sc.banner, t);
    step('banner shown', r.done, r);
    if (!r.done) {
        return;
    }

    await page.evaluate(() => window.FCFH.focus());
    await page.keyboard.type(sc.type, { delay: 20 });

    r = await poll(page, (typed) => {
        const text = window.FCFH.text();
        const at = text.indexOf('login: ');
        return { done: at >= 0 && text.indexOf(typed, at) >= 0,
                 text: text.trim().slice(0, 300), stopped: !!window.FCFH.stopped };
    }, sc.type, t);
    step('typed keys echoed', r.done, r);
}

async function kvmSteps(page, sc, step) {
    const t = (sc.timeout || 30) * 1000;
    const good = (c) => c && c.frame !== null && c.bad === 0;
    let r = await poll(page, ([w, h]) => {
        const c = window.FCFH && window.FCFH.check ? window.FCFH.check() : null;
        return { done: !!c && c.w === w && c.h === h && c.frame !== null && c.bad === 0,
                 check: c, state: window.FCFH ? window.FCFH.state : null,
                 stopped: !!(window.FCFH && window.FCFH.stopped) };
    }, [sc.width, sc.height], t);
    step('screen shows a whole frame of the picture', r.done && good(r.check), r);
    if (!r.done) {
        return;
    }

    const first = r.check.frame;
    r = await poll(page, (f) => {
        const c = window.FCFH.check();
        return { done: c.frame !== null && c.frame > f && c.bad === 0, check: c,
                 stopped: !!window.FCFH.stopped };
    }, first, t);
    r.first = first;
    step('screen follows the picture to a later frame', r.done, r);
}

(async () => {
    const browser = await puppeteer.launch({
        executablePath: spec.chromium || '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
               '--no-first-run', '--no-default-browser-check'],
        protocolTimeout: 120000
    });

    try {
        for (const sc of spec.scenarios) {
            const res = { name: sc.name, steps: [], console: [] };
            const t0 = now();
            const ctx = await browser.createBrowserContext();
            const page = await ctx.newPage();
            page.on('console', (m) => res.console.push(m.type() + ': ' + m.text()));
            page.on('pageerror', (e) => res.console.push('pageerror: ' + e.message));
            page.on('requestfailed', (q) => res.console.push('requestfailed: ' + q.url()
                                                           + ' ' + (q.failure() || {}).errorText));
            const step = (name, ok, detail) => {
                res.steps.push({ name: name, ok: !!ok, ms: now() - t0,
                                 detail: ok ? undefined : detail });
            };

            try {
                const resp = await page.goto(sc.url, { waitUntil: 'load',
                                                       timeout: (sc.timeout || 30) * 1000 });
                step('page loaded', resp && resp.ok(), resp ? resp.status() : 'no response');
                if (resp && resp.ok()) {
                    if (sc.kind === 'kvm') {
                        await kvmSteps(page, sc, step);
                    } else {
                        await solSteps(page, sc, step);
                    }
                }
            } catch (e) {
                step('no exception', false, String(e));
            }

            res.log = await page.evaluate(() => (window.FCFH ? window.FCFH.log : []))
                                .catch(() => []);
            res.ms = now() - t0;
            await ctx.close().catch(() => {});
            process.stdout.write(JSON.stringify(res) + '\n');
        }
    } finally {
        await browser.close();
    }
})().catch((e) => {
    process.stdout.write(JSON.stringify({ fatal: String(e && e.stack || e) }) + '\n');
    process.exit(1);
});
