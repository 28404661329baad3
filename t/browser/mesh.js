/*
 * A page that opens a device's serial console or screen with MeshCentral's
 * console scripts, as MeshCentral's own page does:
 * CreateAmtRedirect(CreateAmtRemoteTerminal | CreateAmtRemoteDesktop)
 * .Start(host, port, user, pass, tls).  The scripts open
 * <this page's directory>/webrelay.ashx?p=2&host=...&port=...&tls=...
 * and do the redirection Digest themselves.  Query parameters: mode (sol |
 * kvm), host, port (16994), user, pass, tls (0), bpp (KVM bytes per pixel:
 * 2, MeshCentral's default, keeps AMT's RGB565; 1 asks for RGB332).
 *
 * window.FCFH is what the test driver reads: log, state, stopped, text(),
 * check().
 */
(function () {
    'use strict';

    var q = new URLSearchParams(window.location.search),
        mode = q.get('mode') || 'sol',
        bpp = parseInt(q.get('bpp') || '2', 10),
        fcfh = { log: [], state: -1, mode: mode },
        red;

    window.FCFH = fcfh;

    function log(s) {
        fcfh.log.push((performance.now() / 1000).toFixed(2) + ' ' + s);
    }

    window.addEventListener('error', function (e) { log('error: ' + e.message); });

    if (mode === 'kvm') {
        red = CreateAmtRedirect(CreateAmtRemoteDesktop('Desk'), '');
        red.m.bpp = bpp;
        fcfh.check = function () {
            return FcfhPicture.check(document.getElementById('Desk'),
                                     bpp === 1 ? [3, 3, 2] : [5, 6, 5]);
        };

    } else {
        red = CreateAmtRedirect(CreateAmtRemoteTerminal('Term', { protocol: 1 }), '');
        fcfh.text = function () {
            return document.getElementById('Term').innerText.replace(/\u00a0/g, ' ');
        };
        fcfh.focus = function () {};
        /* as MeshCentral's page: keys go to the terminal once connected */
        document.onkeypress = function (e) {
            if (red.State === 3) { return red.m.TermHandleKeys(e); }
        };
        document.onkeydown = function (e) {
            if (red.State === 3) { red.m.TermHandleKeyDown(e); }
        };
    }

    /* state 0 after a start: the console gave up (the driver stops
       waiting then) */
    red.onStateChanged = function (r, st) {
        if (st === 0 && fcfh.state > 0) {
            fcfh.stopped = true;
        }
        fcfh.state = st;
        log('state ' + st);
    };

    red.Start(q.get('host'), parseInt(q.get('port') || '16994', 10),
              q.get('user'), q.get('pass'), parseInt(q.get('tls') || '0', 10));
})();
