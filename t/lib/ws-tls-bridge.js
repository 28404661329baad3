'use strict';
// WebSocket in, TLS out: lets an APF client that speaks over a WebSocket
// (its APF bytes in WebSocket frames) reach the gateway's raw-TLS device
// port.  Used by t/43-meshcentral-client.t.
//
//   node ws-tls-bridge.js WS_MODULE LISTEN_PORT GATEWAY_PORT [PORT_FILE]
//
// WS_MODULE is the path of a `ws` package (8.x); the bridge listens on
// 127.0.0.1:LISTEN_PORT (0: any free port, written to PORT_FILE) at
// /apf.ashx and opens one TLS connection to 127.0.0.1:GATEWAY_PORT per
// WebSocket.  The gateway's certificate is not checked (loopback, the
// test's own demo PKI).
//
// Device to gateway: a text frame carries bytes as UTF-8 code points
// U+0000..U+00FF (decoded back to latin1 bytes), a binary frame the
// bytes themselves.  Gateway to device: the TLS stream is cut into whole
// APF messages, each sent as one binary frame, because the client parses
// each frame on its own and keeps no partial message between frames.
// A REQUEST_SUCCESS is 5 bytes after a tcpip-forward and 1 byte after
// anything else, so the device's global requests are read on the way in.
// Bytes that are no known message go to the device as they are, in one
// frame.  One line per frame and per event on stderr.

const tls = require('tls');
const fs = require('fs');

const [wsModule, listenPort, gwPort, portFile] = process.argv.slice(2);
const { WebSocketServer } = require(wsModule);

const NAMES = {
    1: 'DISCONNECT', 5: 'SERVICE_REQUEST', 6: 'SERVICE_ACCEPT',
    50: 'USERAUTH_REQUEST', 51: 'USERAUTH_FAILURE', 52: 'USERAUTH_SUCCESS',
    80: 'GLOBAL_REQUEST', 81: 'REQUEST_SUCCESS', 82: 'REQUEST_FAILURE',
    90: 'CHANNEL_OPEN', 91: 'CHANNEL_OPEN_CONFIRMATION',
    92: 'CHANNEL_OPEN_FAILURE', 93: 'CHANNEL_WINDOW_ADJUST',
    94: 'CHANNEL_DATA', 97: 'CHANNEL_CLOSE', 192: 'PROTOCOLVERSION',
    208: 'KEEPALIVE_REQUEST', 209: 'KEEPALIVE_REPLY',
    210: 'KEEPALIVE_OPTIONS_REQUEST', 211: 'KEEPALIVE_OPTIONS_REPLY',
    250: 'JSON_CONTROL',
};

let next = 0;

function log(id, what) {
    process.stderr.write(`${(Date.now() / 1000).toFixed(3)} [${id}] ${what}\n`);
}

function u32(b, off) {
    return off + 4 <= b.length ? b.readUInt32BE(off) : -1;
}

// Length of the gateway-to-device message at the start of b: > 0 when it
// is all there, 0 when more bytes are needed, -1 for an unknown type.
// replyLen is the size of a REQUEST_SUCCESS at this point (1 or 5).
function gatewayMessageLength(b, replyLen) {
    const fixed = { 1: 7, 52: 1, 82: 1, 91: 17, 92: 17, 93: 9, 97: 5,
                    208: 5, 209: 5, 210: 9 };
    const type = b[0];
    let n;

    if (fixed[type]) {
        n = fixed[type];
    } else if (type === 81) {
        n = replyLen;
    } else if (type === 6 || type === 250) {
        n = u32(b, 1);
        n = n < 0 ? 0 : 5 + n;
    } else if (type === 51) {
        n = u32(b, 1);
        n = n < 0 ? 0 : 5 + n + 1;
    } else if (type === 94) {
        n = u32(b, 5);
        n = n < 0 ? 0 : 9 + n;
    } else if (type === 90) {
        // S(type) u32 sender u32 window u32 reserved, S(addr) u32 port,
        // S(orig) u32 port
        let off = 1;
        for (const after of [12, 4, 4]) {
            const l = u32(b, off);
            if (l < 0) return 0;
            off += 4 + l + after;
        }
        n = off;
    } else {
        return -1;
    }

    return b.length >= n ? n : 0;
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(listenPort),
                                  path: '/apf.ashx' });

wss.on('listening', () => {
    const port = wss.address().port;
    log('-', `listening on 127.0.0.1:${port}, gateway 127.0.0.1:${gwPort}, `
             + `node ${process.version}`);
    if (portFile) {
        fs.writeFileSync(portFile + '.tmp', `${port}\n`);
        fs.renameSync(portFile + '.tmp', portFile);
    }
});

wss.on('connection', (ws, req) => {
    const id = ++next;
    const replies = [];         // sizes of the REQUEST_SUCCESS to come
    let pending = Buffer.alloc(0);
    let closed = false;

    log(id, `websocket from ${req.socket.remotePort}, ${req.url}`);

    const gw = tls.connect({ host: '127.0.0.1', port: Number(gwPort),
                             rejectUnauthorized: false });

    gw.on('secureConnect', () => log(id, `tls ${gw.getProtocol()} up`));

    gw.on('data', (chunk) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;

        while (pending.length) {
            const replyLen = pending[0] === 81 && replies.length
                             ? replies[0] : 1;
            let n = gatewayMessageLength(pending, replyLen);

            if (n === 0) break;

            if (n < 0) {
                log(id, `gw->dev unknown type ${pending[0]}, `
                        + `${pending.length} bytes as they are`);
                n = pending.length;
            } else {
                if (pending[0] === 81 || pending[0] === 82) replies.shift();
                log(id, `gw->dev ${NAMES[pending[0]]} ${n}`
                        + (pending[0] === 1 ? ` reason ${u32(pending, 1)}` : ''));
            }

            const msg = Buffer.from(pending.subarray(0, n));
            pending = pending.subarray(n);
            if (ws.readyState === ws.OPEN) ws.send(msg, { binary: true });
        }
    });

    gw.on('error', (e) => log(id, `tls error: ${e.message}`));

    gw.on('close', () => {
        log(id, 'tls closed');
        if (!closed) { closed = true; ws.close(1000); }
    });

    ws.on('message', (data, isBinary) => {
        let bytes;

        if (isBinary) {
            bytes = Buffer.from(data);
        } else {
            const text = data.toString('utf8');
            if (/[^\u0000-\u00ff]/.test(text)) {
                log(id, 'text frame with a code point above U+00FF: closing');
                ws.terminate();
                return;
            }
            bytes = Buffer.from(text, 'latin1');
        }

        if (bytes[0] === 80 && bytes.length >= 5) {
            const l = bytes.readUInt32BE(1);
            const name = bytes.subarray(5, 5 + l).toString('latin1');
            replies.push(name === 'tcpip-forward' ? 5 : 1);
        }

        log(id, `dev->gw ${isBinary ? 'binary' : 'text'} `
                + `${NAMES[bytes[0]] || 'type ' + bytes[0]} ${bytes.length}`);
        gw.write(bytes);
    });

    ws.on('close', (code) => {
        log(id, `websocket closed (${code})`);
        if (!closed) { closed = true; gw.end(); }
    });

    ws.on('error', (e) => log(id, `websocket error: ${e.message}`));
});

wss.on('error', (e) => { log('-', `server error: ${e.message}`); process.exit(1); });
