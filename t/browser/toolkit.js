/*
 * A page that opens a device's serial console or screen with Intel's UI
 * toolkit (@device-management-toolkit/ui-toolkit, its UMD bundle) wired
 * as Open AMT's sample web UI wires it: AMTRedirector + AmtTerminal +
 * TerminalDataProcessor into xterm.js for SOL, AMTKvmDataRedirector +
 * AMTDesktop + DataProcessor onto a canvas for KVM.  Query parameters:
 *
 *   mode    sol | kvm
 *   server  the relay base the toolkit appends /webrelay.ashx to
 *   host    device GUID; port (16994), tls (0)
 *   token   what the toolkit sends as Sec-WebSocket-Protocol
 *   user, pass  redirection credentials (empty: the gateway's job)
 *   bpp     KVM bytes per pixel the toolkit asks for (1: RGB332, its
 *           default; 2: AMT's RGB565)
 *
 * window.FCFH is what the test driver reads: log, state, stopped, text(),
 * check().
 */
(function () {
    'use strict';

    var q = new URLSearchParams(window.location.search),
        ui = self['ui-toolkit/core'],
        mode = q.get('mode') || 'sol',
        bpp = parseInt(q.get('bpp') || '1', 10),
        fcfh = { log: [], state: -1, mode: mode },
        config, red;

    window.FCFH = fcfh;

    function log(s) {
        fcfh.log.push((performance.now() / 1000).toFixed(2) + ' ' + s);
    }

    window.addEventListener('error', function (e) { log('error: ' + e.message); });

    config = {
        mode: mode,
        protocol: mode === 'kvm' ? ui.Protocol.KVM : ui.Protocol.SOL,
        fr: new FileReader(),
        host: q.get('host'),
        port: parseInt(q.get('port') || '16994', 10),
        user: q.get('user') || '',
        pass: q.get('pass') || '',
        tls: parseInt(q.get('tls') || '0', 10),
        tls1only: 0,
        authToken: q.get('token') || '',
        server: q.get('server')
    };

    if (mode === 'kvm') {
        var canvas = document.getElementById('screen'),
            desktop = new ui.AMTDesktop(canvas.getContext('2d'));

        red = new ui.AMTKvmDataRedirector(config);
        var dp = new ui.DataProcessor(red, desktop);

        desktop.bpp = bpp;
        red.onProcessData = desktop.processData.bind(desktop);
        red.onStart = desktop.start.bind(desktop);
        red.onNewState = desktop.onStateChange.bind(desktop);
        red.onSendKvmData = desktop.onSendKvmData.bind(desktop);
        desktop.onSend = red.send.bind(red);
        desktop.onProcessData = dp.processData.bind(dp);

        fcfh.check = function () {
            return FcfhPicture.check(canvas, bpp === 1 ? [3, 3, 2] : [5, 6, 5]);
        };

    } else {
        var xterm = new Terminal({ cols: 80, rows: 25 }),
            term = new ui.AmtTerminal(),
            tdp = new ui.TerminalDataProcessor(term);

        xterm.open(document.getElementById('term'));
        red = new ui.AMTRedirector(config);
        red.onProcessData = tdp.processData;
        red.onStart = function () {};
        red.onNewState = term.StateChange;
        term.onSend = red.send.bind(red);
        tdp.processDataToXterm = function (s) { xterm.write(s); };
        xterm.onData(function (d) { term.TermSendKeys(d); });

        fcfh.text = function () {
            var b = xterm.buffer.active, lines = [], i, l;
            for (i = 0; i < b.length; i++) {
                l = b.getLine(i);
                lines.push(l ? l.translateToString(true) : '');
            }
            return lines.join('\n');
        };
        fcfh.focus = function () { xterm.focus(); };
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
    red.onError = function () { log('redirector error'); };

    red.start(WebSocket);
})();
