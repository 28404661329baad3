/*
 * The simulator's KVM picture (sim/README.md, "The KVM picture") and a
 * check of a canvas against it, for the browser test pages.
 */
var FcfhPicture = (function () {
    'use strict';

    function rgb(n, x, y, w, h) {
        var v, bar;

        if (y < 8 && x < 128) {
            v = ((n >> (15 - Math.floor(x / 8))) & 1) ? 255 : 0;
            return [v, v, v];
        }

        bar = (n * 8) % w;
        if ((x + w - bar) % w < 16) {
            return [255, 255, 0];
        }

        return [Math.floor(x * 255 / (w - 1)), Math.floor(y * 255 / (h - 1)),
                (((x >> 4) + (y >> 4)) & 1) ? 192 : 64];
    }

    function level(c, bits) {
        return Math.floor((c * ((1 << bits) - 1) + 127) / 255);
    }

    /*
     * Compares a canvas with the picture.  bits: per component of the
     * pixel format the console asked for ([5, 6, 5] or [3, 3, 2]); a
     * canvas component c is taken as level c >> (8 - bits), which is exact
     * for both consoles' expansions (left shifts, blue 2-bit values
     * "fixed" up).  Returns {w, h, frame, bad, first}: frame from the
     * counter cells (null when a cell is neither black nor white), bad =
     * pixels that differ from that frame, first = the first of them.
     */
    function check(canvas, bits) {
        var w = canvas.width, h = canvas.height, d, n = 0, i, o, s,
            x, y, e, k, bad = 0, first = null;

        if (w < 128 || h < 8) {
            return { w: w, h: h, frame: null, bad: -1, first: null };
        }

        d = canvas.getContext('2d').getImageData(0, 0, w, h).data;

        for (i = 0; i < 16; i++) {
            o = (4 * w + 8 * i + 4) * 4;
            s = d[o] + d[o + 1] + d[o + 2];
            if (s > 600) {
                n = (n << 1) | 1;
            } else if (s < 60) {
                n = n << 1;
            } else {
                return { w: w, h: h, frame: null, bad: -1, first: null };
            }
        }

        for (y = 0; y < h; y++) {
            for (x = 0; x < w; x++) {
                e = rgb(n, x, y, w, h);
                o = (y * w + x) * 4;
                for (k = 0; k < 3; k++) {
                    if ((d[o + k] >> (8 - bits[k])) !== level(e[k], bits[k])) {
                        bad++;
                        if (first === null) {
                            first = { x: x, y: y, got: [d[o], d[o + 1], d[o + 2]],
                                      want: e };
                        }
                        break;
                    }
                }
            }
        }

        return { w: w, h: h, frame: n, bad: bad, first: first };
    }

    return { rgb: rgb, check: check };
})();
