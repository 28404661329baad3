/*
 * ngx_fcfh_module operator page.
 *
 * The device list is the gateway's own: one full read of fcfh_api's
 * `GET tunnels` when the live feed (fcfh_events, Server-Sent Events)
 * opens or reopens, then the feed's events.  A `connected`, `alert` or
 * `disconnected` event is applied at once from what it says, and the
 * device is then read again (`GET tunnels/<guid>`) for what only the API
 * knows (ports, the connection time, the trigger's evidence) and to
 * catch a newer tunnel of the same device.  Answers can come back in any
 * order, so every piece of information is numbered when it is asked for
 * (or, for an event, when it arrives), and a device's row only ever takes
 * information newer than what it shows: a slow full list never brings
 * back a device that has since left.  When the feed is unavailable (an
 * HTTP error: the browser's EventSource then gives up), the list is read
 * every 10 s and the feed tried again every 30 s.
 *
 * Consoles: a device-scoped token from fcfh_api (`GET
 * authorize/redirection/<guid>`, as Open AMT's MPS), then the Open AMT UI
 * toolkit's redirector over the gateway's WebSocket relay; a serial
 * console goes to xterm.js, the screen to a canvas.  The AMT redirection
 * credentials are the gateway's business: the toolkit sends empty ones.
 *
 * Strings from the gateway (device names, peers, reasons) reach the page
 * only as text (textContent), never as markup.
 */

(function () {
    'use strict';

    var PAGE_LIMIT = 1000;          /* the API's largest page */
    var MAX_PAGES = 10;             /* devices shown at most: 10,000 */
    var ACTIVITY_MAX = 50;
    var POLL_MS = 10000;
    var EVENTS_RETRY_MS = 30000;
    var REDIRECTION_PORT = 16994;   /* AMT redirection in clear (tls=0) */

    var body = document.body;
    var cfg = {
        api: new URL(body.dataset.api || '../api/', location.href).href,
        events: new URL(body.dataset.events || '../events',
                        location.href).href,
        relay: wsUrl(body.dataset.relay || '../relay')
    };

    var el = {
        feed: byId('feed'),
        feedText: byId('feed-text'),
        count: byId('count'),
        filter: byId('filter'),
        notice: byId('notice'),
        noConsoles: byId('no-consoles'),
        rows: byId('rows'),
        empty: byId('empty'),
        activity: byId('activity'),
        console: byId('console'),
        consoleH: byId('console-h'),
        consoleState: byId('console-state'),
        consoleClose: byId('console-close'),
        terminal: byId('terminal'),
        screenWrap: byId('screen-wrap'),
        screen: byId('screen')
    };

    /* guid -> { t: tunnel object, row: <tr>, epoch: of what it shows } */
    var devices = new Map();
    /* guid -> epoch at which the device was seen gone */
    var gone = new Map();
    var epoch = 0;                  /* numbers what was asked, in order */
    var fullEpoch = 0;              /* the newest full list applied */
    var loading = null;             /* the full read under way */
    var again = false;              /* and another one wanted after it */
    var truncated = false;

    var events = null;
    var pollTimer = null;
    var retryTimer = null;

    var session = null;             /* the open console, if any */


    function byId(id) {
        return document.getElementById(id);
    }


    /* the relay's base URL as the UI toolkit wants it: ws(s)://, no "/" */
    function wsUrl(path) {
        var u = new URL(path, location.href);

        u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
        u.search = '';
        u.hash = '';

        return u.href.replace(/\/+$/, '');
    }


    /* ---- the API ------------------------------------------------------ */

    function apiGet(path) {
        return fetch(cfg.api + path, {
            headers: { 'Accept': 'application/json' },
            cache: 'no-store',
            credentials: 'same-origin'
        }).then(function (r) {
            return r.text().then(function (text) {
                var json = null;

                try {
                    json = JSON.parse(text);
                } catch (e) {
                    /* an error page of nginx's own, say */
                }

                return { status: r.status, json: json };
            });
        });
    }


    function apiError(what, r) {
        var why = (r.json && typeof r.json.error === 'string'
                   ? r.json.error + ', ' : '') + 'HTTP ' + r.status;

        if (r.status === 401 || r.status === 403) {
            why += ' (this page\'s address may not use the API)';
        }

        return new Error(what + ': ' + why);
    }


    /* ---- the list ----------------------------------------------------- */

    function known(guid) {
        var d = devices.get(guid);
        var e = d ? d.epoch : (gone.get(guid) || 0);

        return Math.max(e, fullEpoch);
    }


    function apply(t, e, fresh) {
        var d = devices.get(t.guid);

        if (e <= known(t.guid)) {
            return;
        }

        gone.delete(t.guid);

        if (d) {
            d.t = Object.assign({}, d.t, t);
            d.epoch = e;
            fillRow(d);
            placeRow(d);
            return;
        }

        d = { t: t, row: document.createElement('tr'), epoch: e };
        d.row.dataset.guid = t.guid;
        devices.set(t.guid, d);
        fillRow(d);
        placeRow(d);

        if (fresh) {
            d.row.classList.add('new');
        }

        filterRow(d);
        counted();
    }


    function remove(guid, e) {
        var d = devices.get(guid);

        if (e <= known(guid)) {
            return;
        }

        gone.set(guid, e);

        if (!d) {
            return;
        }

        devices.delete(guid);
        d.row.remove();
        counted();

        /* the relay may have closed the console before this event came */
        if (session && session.guid === guid) {
            session.deviceGone = true;

            if (el.consoleState.dataset.state === 'closed') {
                consoleState('closed', closedWhy(session));
            }
        }
    }


    function loadAll() {
        var list = [];
        var e;

        /* one at a time; one asked for meanwhile starts after it */
        if (loading) {
            again = true;
            return loading;
        }

        e = ++epoch;

        /* API paging: ?limit= and ?cursor= (the page before's next_cursor) */
        function page(cursor, n) {
            var q = 'tunnels?limit=' + PAGE_LIMIT;

            if (cursor) {
                q += '&cursor=' + encodeURIComponent(cursor);
            }

            return apiGet(q).then(function (r) {
                var j = r.json;

                if (r.status !== 200 || !j || !Array.isArray(j.tunnels)) {
                    throw apiError('Reading the device list', r);
                }

                list = list.concat(j.tunnels);

                if (j.tunnels.length === 0 || !j.next_cursor) {
                    return false;
                }

                if (n + 1 >= MAX_PAGES) {
                    return true;
                }

                return page(j.next_cursor, n + 1);
            });
        }

        loading = page(null, 0).then(function (cut) {
            var seen = new Set();

            list.forEach(function (t) {
                if (t && typeof t.guid === 'string') {
                    seen.add(t.guid);
                    apply(t, e, false);
                }
            });

            devices.forEach(function (d, guid) {
                if (!seen.has(guid)) {
                    remove(guid, e);
                }
            });

            fullEpoch = Math.max(fullEpoch, e);

            /* older removals are now told by the list itself */
            gone.forEach(function (ge, guid) {
                if (ge < fullEpoch) {
                    gone.delete(guid);
                }
            });

            truncated = cut;
            notice(cut ? 'More than ' + PAGE_LIMIT * MAX_PAGES
                         + ' devices are connected: the list shows the'
                         + ' first ' + PAGE_LIMIT * MAX_PAGES + '.' : '');
            counted();

        }).catch(function (err) {
            notice(err.message, true);

        }).then(function () {
            loading = null;

            if (again) {
                again = false;
                loadAll();
            }
        });

        return loading;
    }


    /* read one device again; gone when the API does not know it */
    function refresh(guid) {
        var e = ++epoch;

        return apiGet('tunnels/' + encodeURIComponent(guid))
            .then(function (r) {
                if (r.status === 200 && r.json && r.json.guid === guid) {
                    apply(r.json, e, false);

                } else if (r.status === 404) {
                    remove(guid, e);
                }
            }).catch(function () {
                /* the next event or full read will tell */
            });
    }


    /* ---- rows --------------------------------------------------------- */

    function text(tag, s, cls) {
        var n = document.createElement(tag);

        n.textContent = s;

        if (cls) {
            n.className = cls;
        }

        return n;
    }


    function label(t) {
        return t.fqdn || t.guid;
    }


    function when(iso) {
        var d = iso ? new Date(iso) : null;

        return d && !isNaN(d.getTime()) ? d : null;
    }


    function ago(d) {
        var s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));

        if (s < 60) {
            return 'just now';
        }

        if (s < 3600) {
            return Math.floor(s / 60) + ' min ago';
        }

        if (s < 86400) {
            return Math.floor(s / 3600) + ' h '
                   + Math.floor(s % 3600 / 60) + ' min ago';
        }

        return Math.floor(s / 86400) + ' d ago';
    }


    /* why the device called (APF PROTOCOLVERSION trigger) */
    var TRIGGERS = {
        user: 'help requested by the user',
        alert: 'alert',
        periodic: 'periodic call',
        provisioning: 'provisioning',
        local: 'local',
        unknown: 'unknown'
    };

    var EVIDENCE = {
        alert_after_connect: 'an alert followed the connection',
        event_log_entry_at_connect: 'event log entry at the connection'
    };


    function fillRow(d) {
        var t = d.t;
        var row = d.row;
        var cell, since, sol, kvm, redir;

        row.textContent = '';

        cell = row.insertCell();
        cell.className = 'name';
        cell.appendChild(text('span', t.fqdn || '(no name)'));

        if (t.identity || t.user) {
            cell.appendChild(text('span', 'as ' + (t.user || t.identity),
                                  'sub'));
        }

        cell = row.insertCell();
        cell.className = 'guid';
        cell.textContent = t.guid;

        cell = row.insertCell();
        cell.className = 'peer';
        cell.textContent = t.peer || '—';

        cell = row.insertCell();
        cell.className = 'since';
        since = when(t.connected_at || t.time);

        if (since) {
            cell.appendChild(text('time', since.toLocaleString(undefined, {
                dateStyle: 'medium', timeStyle: 'medium'
            }))).dateTime = since.toISOString();
            cell.appendChild(text('span', ago(since), 'sub ago'));

        } else {
            cell.textContent = '—';
        }

        cell = row.insertCell();
        cell.className = 'trigger';
        cell.appendChild(text('span', TRIGGERS[t.trigger] || t.trigger
                                      || 'unknown',
                              'badge ' + (t.trigger || '')));

        if (t.trigger_evidence && EVIDENCE[t.trigger_evidence]) {
            cell.appendChild(text('span', EVIDENCE[t.trigger_evidence],
                                  'sub'));
        }

        if (t.alerts) {
            cell.appendChild(text('span', t.alerts + ' alert'
                                          + (t.alerts > 1 ? 's' : ''),
                                  'sub'));
        }

        cell = row.insertCell();
        cell.className = 'actions';

        /* ports unknown (the device was only seen in an event): try */
        redir = !Array.isArray(t.ports)
                || t.ports.indexOf(REDIRECTION_PORT) >= 0;

        sol = consoleButton(d, 'sol', 'Serial console', redir);
        kvm = consoleButton(d, 'kvm', 'Screen', redir);
        cell.appendChild(sol);
        cell.appendChild(kvm);

        row.classList.toggle('open',
                             !!session && session.guid === t.guid);
    }


    function consoleButton(d, mode, name, redir) {
        var b = text('button', name, 'btn');
        var why = consolesMissing();

        b.type = 'button';
        b.dataset.mode = mode;
        b.setAttribute('aria-label', name + ' of ' + label(d.t));

        if (!redir) {
            why = 'the device has not registered port ' + REDIRECTION_PORT;
        }

        if (why) {
            b.disabled = true;
            b.title = 'Not available: ' + why;
        }

        b.addEventListener('click', function () {
            openConsole(d.t.guid, mode);
        });

        return b;
    }


    /* newest connection first, then by name */
    function before(a, b) {
        var ta = a.connected_at || a.time || '';
        var tb = b.connected_at || b.time || '';

        if (ta !== tb) {
            return ta > tb;
        }

        return label(a) < label(b);
    }


    function placeRow(d) {
        var n = el.rows.firstElementChild;
        var o;

        while (n) {
            o = devices.get(n.dataset.guid);

            if (n !== d.row && o && before(d.t, o.t)) {
                break;
            }

            n = n.nextElementSibling;
        }

        if (d.row.parentNode !== el.rows || d.row.nextElementSibling !== n) {
            el.rows.insertBefore(d.row, n);
        }
    }


    function filterRow(d) {
        var q = el.filter.value.trim().toLowerCase();
        var t = d.t;
        var hay;

        if (!q) {
            d.row.hidden = false;
            return;
        }

        hay = [t.fqdn, t.guid, t.peer, t.trigger, t.identity, t.user]
              .join(' ').toLowerCase();
        d.row.hidden = hay.indexOf(q) < 0;
    }


    function counted() {
        var shown = 0;

        devices.forEach(function (d) {
            if (!d.row.hidden) {
                shown++;
            }
        });

        el.count.textContent = shown === devices.size
                               ? '(' + devices.size + (truncated ? '+' : '')
                                 + ')'
                               : '(' + shown + ' of ' + devices.size + ')';
        el.empty.hidden = devices.size > 0;
        document.title = 'AMT gateway: ' + devices.size + ' device'
                         + (devices.size === 1 ? '' : 's');
    }


    function notice(msg, error) {
        el.notice.textContent = msg || '';
        el.notice.hidden = !msg;
        el.notice.classList.toggle('error', !!error);
    }


    function tick() {
        devices.forEach(function (d) {
            var since = when(d.t.connected_at || d.t.time);
            var n = d.row.querySelector('.ago');

            if (since && n) {
                n.textContent = ago(since);
            }
        });
    }


    /* ---- the live feed ------------------------------------------------ */

    var REASONS = {
        device: 'the device closed the connection',
        idle_timeout: 'nothing from the device for too long',
        replaced: 'a newer connection of the device took over',
        api: 'closed by an operator',
        worker_exit: 'the gateway worker holding it exited',
        error: 'protocol error'
    };


    function activity(msg) {
        var li = document.createElement('li');
        var now = new Date();

        li.appendChild(text('time', now.toLocaleTimeString()))
            .dateTime = now.toISOString();
        li.appendChild(document.createTextNode(msg));
        el.activity.insertBefore(li, el.activity.firstChild);

        while (el.activity.children.length > ACTIVITY_MAX) {
            el.activity.lastElementChild.remove();
        }
    }


    function onEvent(ev) {
        var j, e, name;

        try {
            j = JSON.parse(ev.data);
        } catch (err) {
            return;
        }

        if (ev.type === 'dropped') {
            activity('Missed ' + j.dropped + ' events: reading the list'
                     + ' again');
            loadAll();
            return;
        }

        if (!j || typeof j.guid !== 'string') {
            return;
        }

        e = ++epoch;
        name = j.fqdn ? j.fqdn + ' (' + j.guid + ')' : j.guid;

        switch (ev.type) {

        case 'connected':
            apply({
                guid: j.guid, fqdn: j.fqdn, peer: j.peer,
                identity: j.identity, user: j.user, trigger: j.trigger,
                time: j.time
            }, e, true);
            refresh(j.guid);
            activity(name + ' connected from ' + (j.peer || '?') + ' ('
                     + (TRIGGERS[j.trigger] || j.trigger) + ')');
            break;

        case 'disconnected':
            /* "replaced": the device is still here, on a newer tunnel */
            if (j.reason !== 'replaced') {
                remove(j.guid, e);
            }

            refresh(j.guid);
            activity(name + ' left: ' + (REASONS[j.reason] || j.reason));
            break;

        case 'alert':
            refresh(j.guid);
            activity('Alert from ' + name + (j.relayed ? ', relayed to '
                     + j.receiver : ''));
            break;

        case 'auth_failed':
            activity('A device (' + j.guid + ') from ' + (j.peer || '?')
                     + ' was refused: ' + j.reason);
            break;

        case 'fqdn_conflict':
            activity(j.guid + ' claimed the name ' + j.fqdn + ', held by '
                     + j.holder);
            break;
        }
    }


    function feed(state, msg) {
        el.feed.dataset.state = state;
        el.feedText.textContent = msg;
    }


    function startEvents() {
        retryTimer = null;

        if (!window.EventSource) {
            startPolling('This browser has no live updates');
            return;
        }

        events = new EventSource(cfg.events);

        events.addEventListener('open', function () {
            stopPolling();
            feed('live', 'Live');
            loadAll();
        });

        events.addEventListener('error', function () {
            if (events.readyState === EventSource.CLOSED) {
                /* the browser gives up on an HTTP error: poll, try later */
                events = null;
                startPolling('Live updates unavailable');
                retryTimer = setTimeout(startEvents, EVENTS_RETRY_MS);

            } else {
                feed('connecting', 'Reconnecting to the gateway…');
            }
        });

        ['connected', 'disconnected', 'alert', 'auth_failed',
         'fqdn_conflict', 'dropped'].forEach(function (type) {
            events.addEventListener(type, onEvent);
        });
    }


    function startPolling(why) {
        feed('down', why + '; the list is read every '
                     + POLL_MS / 1000 + ' s');

        if (!pollTimer) {
            loadAll();
            pollTimer = setInterval(loadAll, POLL_MS);
        }
    }


    function stopPolling() {
        if (pollTimer) {
            clearInterval(pollTimer);
            pollTimer = null;
        }
    }


    /* ---- consoles ----------------------------------------------------- */

    function toolkit() {
        return self['ui-toolkit/core'];
    }


    /* why consoles cannot open here, or '' */
    function consolesMissing() {
        if (!toolkit()) {
            return 'the Open AMT UI toolkit is not installed on the gateway'
                   + ' (tools/install-deps.sh)';
        }

        if (!window.Terminal) {
            return 'xterm.js is not installed on the gateway'
                   + ' (tools/install-deps.sh)';
        }

        if (!window.WebSocket) {
            return 'this browser has no WebSocket';
        }

        return '';
    }


    function consoleState(state, msg) {
        el.consoleState.dataset.state = state;
        el.consoleState.textContent = msg;
    }


    function markOpenRow() {
        devices.forEach(function (d) {
            d.row.classList.toggle('open',
                                   !!session && session.guid === d.t.guid);
        });
    }


    function getToken(guid) {
        var path = 'authorize/redirection/' + encodeURIComponent(guid);

        return apiGet(path).then(function (r) {
            if (r.status !== 200 || !r.json
                || typeof r.json.token !== 'string' || !r.json.token)
            {
                throw apiError('No console token', r);
            }

            return r.json.token;
        });
    }


    function redirectorConfig(guid, mode, protocol, token) {
        return {
            mode: mode,
            protocol: protocol,
            fr: new FileReader(),
            host: guid,
            port: REDIRECTION_PORT,
            user: '',
            pass: '',
            tls: 0,
            tls1only: 0,
            authToken: token,
            server: cfg.relay
        };
    }


    function openConsole(guid, mode) {
        var d = devices.get(guid);
        var s;

        if (!d) {
            return;
        }

        closeConsole();

        s = session = {
            guid: guid, mode: mode, name: label(d.t), reached: 0,
            closed: false, deviceGone: false, stop: null, close: null
        };

        el.console.hidden = false;
        el.consoleH.textContent = (mode === 'sol' ? 'Serial console: '
                                                  : 'Screen: ') + s.name;
        el.terminal.hidden = mode !== 'sol';
        el.screenWrap.hidden = mode !== 'kvm';
        markOpenRow();
        consoleState('connecting', 'Asking the gateway for a console token…');
        el.consoleH.focus();

        getToken(guid).then(function (token) {
            if (s !== session) {
                return;
            }

            consoleState('connecting', 'Connecting to the relay…');

            if (mode === 'sol') {
                startSol(s, token);

            } else {
                startKvm(s, token);
            }

        }).catch(function (err) {
            if (s === session) {
                consoleState('error', err.message);
            }
        });
    }


    /* watch the relay's WebSocket for the close code and reason */
    function watchSocket(s, red) {
        var ws = red.socket;

        if (ws && ws.addEventListener) {
            ws.addEventListener('close', function (ev) {
                s.close = { code: ev.code, reason: ev.reason };
            });
        }
    }


    function onRedirectorState(s, state) {
        if (s !== session || s.closed) {
            return;
        }

        s.reached = Math.max(s.reached, state);

        switch (state) {

        case 1:
            consoleState('connecting', 'Connecting to the relay…');
            break;

        case 2:
            consoleState('connecting', 'Opening the device\'s '
                         + (s.mode === 'sol' ? 'serial console' : 'screen')
                         + '…');
            break;

        case 3:
            consoleState('open', 'Connected to ' + s.name
                         + (s.mode === 'kvm'
                            ? ' (click the screen to type into it)' : ''));

            if (s.mode === 'sol' && s.term) {
                s.term.focus();
            }

            break;

        case 0:
            /* the socket's close event comes right after this */
            setTimeout(function () {
                if (s === session && !s.closed) {
                    consoleState('closed', closedWhy(s));
                }
            }, 0);
            break;
        }
    }


    function closedWhy(s) {
        var c = s.close;
        var what = c && c.reason ? ' (' + c.reason + ')'
                   : c && c.code && c.code !== 1005 && c.code !== 1006
                     ? ' (code ' + c.code + ')' : '';

        if (s.deviceGone) {
            return 'Closed: the device left the gateway' + what;
        }

        if (s.reached >= 3) {
            return 'The session ended' + what;
        }

        if (s.reached >= 2) {
            return 'The device\'s redirection session did not open' + what;
        }

        return 'The relay refused the connection' + (what
               || ' (the gateway\'s error log says why)');
    }


    /* xterm's input (UTF-16) as the bytes of its UTF-8 */
    function bytes(str) {
        return unescape(encodeURIComponent(str));
    }


    function startSol(s, token) {
        var core = toolkit();
        var term = new window.Terminal({
            cols: 80,
            rows: 25,
            cursorBlink: true,
            scrollback: 2000,
            screenReaderMode: true,
            fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace'
        });
        var amt = new core.AmtTerminal();
        var proc = new core.TerminalDataProcessor(amt);
        var red = new core.AMTRedirector(
            redirectorConfig(s.guid, 'sol', core.Protocol.SOL, token));

        el.terminal.textContent = '';
        term.open(el.terminal);
        s.term = term;

        amt.onSend = red.send.bind(red);
        red.onNewState = amt.StateChange.bind(amt);
        red.onStateChanged = function (r, state) {
            onRedirectorState(s, state);
        };
        red.onError = function () {};
        red.onProcessData = proc.processData.bind(proc);
        proc.processDataToXterm = function (str) {
            term.write(str);
        };
        proc.clearTerminal = function () {
            term.clear();
        };

        term.onData(function (data) {
            if (red.state === 3) {
                amt.TermSendKeys(bytes(data));
            }
        });

        s.stop = function () {
            red.stop();
            term.dispose();
            el.terminal.textContent = '';
        };

        red.start(WebSocket);
        watchSocket(s, red);
    }


    function startKvm(s, token) {
        var core = toolkit();
        var canvas = el.screen;
        var desk = new core.AMTDesktop(canvas.getContext('2d'));
        var red = new core.AMTKvmDataRedirector(
            redirectorConfig(s.guid, 'kvm', core.Protocol.KVM, token));
        var data = new core.DataProcessor(red, desk);
        var mouse = new core.MouseHelper(desk, red, 200);
        var keys = new core.KeyBoardHelper(desk, red);
        var handlers;

        red.onProcessData = desk.processData.bind(desk);
        /* the redirector reports no state 3 for KVM: this is the start */
        red.onStart = function () {
            desk.start();
            onRedirectorState(s, 3);
        };
        red.onNewState = desk.onStateChange.bind(desk);
        red.onSendKvmData = desk.onSendKvmData.bind(desk);
        red.onStateChanged = function (r, state) {
            onRedirectorState(s, state);
        };
        red.onError = function () {};
        desk.onSend = red.send.bind(red);
        desk.onProcessData = data.processData.bind(data);
        desk.bpp = 2;               /* 16 bits a pixel (RGB565) */

        /*
         * The toolkit takes keys from the whole document: only while the
         * screen has the focus, so that the page stays usable.
         */
        handlers = {
            focus: function () { keys.GrabKeyInput(); },
            blur: function () { keys.UnGrabKeyInput(); },
            mousedown: function (e) { canvas.focus(); mouse.mousedown(e); },
            mouseup: function (e) { mouse.mouseup(e); },
            mousemove: function (e) { mouse.mousemove(e); },
            contextmenu: function (e) { e.preventDefault(); }
        };

        Object.keys(handlers).forEach(function (k) {
            canvas.addEventListener(k, handlers[k]);
        });

        s.stop = function () {
            keys.UnGrabKeyInput();
            Object.keys(handlers).forEach(function (k) {
                canvas.removeEventListener(k, handlers[k]);
            });
            red.stop();
        };

        red.start(WebSocket);
        watchSocket(s, red);
    }


    function closeConsole() {
        var s = session;

        if (!s) {
            return;
        }

        s.closed = true;
        session = null;

        if (s.stop) {
            s.stop();
        }

        el.console.hidden = true;
        markOpenRow();
    }


    /* ---- start -------------------------------------------------------- */

    el.filter.addEventListener('input', function () {
        devices.forEach(filterRow);
        counted();
    });

    el.consoleClose.addEventListener('click', function () {
        var guid = session && session.guid;
        var b;

        closeConsole();

        /* back to where the operator came from */
        b = guid && devices.get(guid)
            && devices.get(guid).row.querySelector('button');
        (b || byId('devices-h')).focus();
    });

    window.addEventListener('pagehide', closeConsole);

    if (consolesMissing()) {
        el.noConsoles.textContent = 'Consoles are not available: '
                                    + consolesMissing() + '.';
        el.noConsoles.hidden = false;
    }

    counted();
    setInterval(tick, 30000);
    startEvents();
})();
