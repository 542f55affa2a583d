#!/usr/bin/python3
"""Writes the image-decoding goldens for eric's media tests.

For every case it writes a small encoded image <name>.<ext> into
tests/data/media/decode/ and, next to it, <name>.rgb: the raw bytes of
Pillow's Image.open(path).convert("RGB") (row-major R,G,B). manifest.tsv lists
"name<TAB>file<TAB>width<TAB>height" per case. The C++ decoders must reproduce
the .rgb files bit for bit.

Images Pillow cannot write (16-bit RGB PNGs, short palettes, interlaced PNGs,
BMP variants, GIF frames at offsets) are assembled byte by byte below; Pillow
only decodes them, so the expected pixels still come from Pillow.

Run with Debian's interpreter: /usr/bin/python3 tools/reference/make_decode_goldens.py

Differential check on any images (not committed; e.g. the system's icons):
  /usr/bin/python3 tools/reference/make_decode_goldens.py --out /tmp/diff --files $(find /usr/share -name '*.png')
  ERIC_DECODE_GOLDEN_DIR=/tmp/diff build/release/tests/media/media_decode_test --gtest_filter='Pillow/*'
Files Pillow refuses are listed with size 0x0; the test then expects an error.
"""
import argparse
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "media", "decode")
rng = np.random.default_rng(1234)


def photo(w, h, channels=3):
    """Smooth gradients plus noise: exercises both the DCT and exact pixel values."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 255 // max(w + h - 2, 1)], -1)
    if channels == 4:
        base = np.concatenate([base, (255 - x * 200 // max(w - 1, 1))[..., None]], -1)
    noise = rng.integers(-30, 31, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def grey(w, h):
    return photo(w, h)[..., 0]


# ---------------------------------------------------------------- PNG writer
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_rows(samples, bit_depth):
    """samples: [h][w*channels] ints -> filtered (filter 0) scanlines."""
    out = bytearray()
    for row in samples:
        out.append(0)
        if bit_depth == 16:
            for v in row:
                out += struct.pack(">H", int(v))
        elif bit_depth == 8:
            out += bytes(int(v) for v in row)
        else:
            per = 8 // bit_depth
            for i in range(0, len(row), per):
                byte = 0
                for j in range(per):
                    v = int(row[i + j]) if i + j < len(row) else 0
                    byte |= v << (8 - bit_depth * (j + 1))
                out.append(byte)
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def make_png(samples, bit_depth, color_type, extra_chunks=(), interlace=False):
    """samples: numpy array [h, w, c] (c may be 1)."""
    h, w = samples.shape[:2]
    flat = samples.reshape(h, w, -1)
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = flat[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            raw += pack_rows(sub.reshape(sub.shape[0], -1), bit_depth)
    else:
        raw = pack_rows(flat.reshape(h, -1), bit_depth)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    for kind, payload in extra_chunks:
        data += png_chunk(kind, payload)
    data += png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")
    return data


# ---------------------------------------------------------------- GIF writer
def lzw_literal_stream(indices, min_code_size):
    """LZW data that only uses literal codes: a clear code is sent before the
    table would grow to the next code width, so every code has min+1 bits."""
    clear, eoi = 1 << min_code_size, (1 << min_code_size) + 1
    width = min_code_size + 1
    per_chunk = max(1, (1 << min_code_size) - 3)
    codes = []
    for i in range(0, len(indices), per_chunk):
        codes.append(clear)
        codes.extend(int(v) for v in indices[i:i + per_chunk])
    codes.append(eoi)
    bits, nbits, out = 0, 0, bytearray()
    for c in codes:
        bits |= c << nbits
        nbits += width
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        out.append(bits & 0xFF)
    blocks = bytearray()
    for i in range(0, len(out), 255):
        part = out[i:i + 255]
        blocks.append(len(part))
        blocks += part
    blocks.append(0)
    return bytes(blocks)


def table_bits(n):
    bits = 1
    while (1 << bits) < n:
        bits += 1
    return bits


def gif_frame(indices, x, y, w, h, local_palette=None, interlace=False, transparency=None, min_code_size=None):
    out = b""
    if transparency is not None:
        out += b"!\xf9\x04" + bytes([1]) + b"\x00\x00" + bytes([transparency]) + b"\x00"
    flags = 0x40 if interlace else 0
    if local_palette is not None:
        bits = table_bits(len(local_palette))
        flags |= 0x80 | (bits - 1)
    out += b"," + struct.pack("<HHHHB", x, y, w, h, flags)
    if local_palette is not None:
        pal = list(local_palette) + [(0, 0, 0)] * ((1 << bits) - len(local_palette))
        out += b"".join(bytes(c) for c in pal)
    rows = indices.reshape(h, w)
    if interlace:
        order = list(range(0, h, 8)) + list(range(4, h, 8)) + list(range(2, h, 4)) + list(range(1, h, 2))
        rows = rows[order]
    mcs = min_code_size or max(2, table_bits(int(indices.max()) + 1))
    out += bytes([mcs]) + lzw_literal_stream(rows.reshape(-1), mcs)
    return out


def make_gif(screen_w, screen_h, global_palette, frames):
    flags = 0
    pal = b""
    if global_palette is not None:
        bits = table_bits(len(global_palette))
        flags = 0x80 | (bits - 1)
        pal = b"".join(bytes(c) for c in list(global_palette) + [(0, 0, 0)] * ((1 << bits) - len(global_palette)))
    return b"GIF89a" + struct.pack("<HHBBB", screen_w, screen_h, flags, 0, 0) + pal + b"".join(frames) + b";"


# ---------------------------------------------------------------- BMP writer
def make_bmp(w, h, bits, rows_bytes, palette=None, header_size=40, compression=0, masks=None,
             top_down=False, colors=None, palette_entry=4, pixel_data=None):
    """rows_bytes: list of unpadded row bytes, top row first (or pixel_data: the raw stream, e.g. RLE)."""
    stride = ((w * bits + 31) >> 3) & ~3
    if pixel_data is None:
        ordered = rows_bytes if top_down else rows_bytes[::-1]
        pixel_data = b"".join(r + b"\x00" * (stride - len(r)) for r in ordered)
    pal = b""
    if palette is not None:
        pal = b"".join(bytes((b, g, r)) + (b"\x00" if palette_entry == 4 else b"") for r, g, b in palette)
    if header_size == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bits)
        extra = b""
    else:
        ncolors = colors if colors is not None else (len(palette) if palette is not None else 0)
        info = struct.pack("<IiiHHIIiiII", header_size, w, -h if top_down else h, 1, bits, compression,
                           len(pixel_data), 2835, 2835, ncolors, 0)
        extra = b""
        if header_size == 40 and masks is not None:
            extra = b"".join(struct.pack("<I", m) for m in masks[:3])
        elif header_size > 40:
            m = list(masks or (0, 0, 0, 0)) + [0] * 4
            info += struct.pack("<IIII", *m[:4]) + b"\x00" * (header_size - 56)
    offset = 14 + len(info) + len(extra) + len(pal)
    head = b"BM" + struct.pack("<IHHI", offset + len(pixel_data), 0, 0, offset)
    return head + info + extra + pal + pixel_data


def pack_bits_row(values, bits):
    out = bytearray()
    per = 8 // bits
    for i in range(0, len(values), per):
        byte = 0
        for j in range(per):
            v = int(values[i + j]) if i + j < len(values) else 0
            byte |= v << (8 - bits * (j + 1))
        out.append(byte)
    return bytes(out)


# ---------------------------------------------------------------- cases
def pil_bytes(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def build_cases():
    cases = []  # (name, ext, bytes)

    def add(name, ext, data):
        cases.append((name, ext, data))

    # ---- PNG written by Pillow
    add("png_rgb8", "png", pil_bytes(Image.fromarray(photo(37, 23)), "PNG"))
    add("png_rgba8", "png", pil_bytes(Image.fromarray(photo(31, 17, 4), "RGBA"), "PNG"))
    add("png_grey8", "png", pil_bytes(Image.fromarray(grey(29, 19), "L"), "PNG"))
    add("png_grey_alpha8", "png", pil_bytes(Image.fromarray(photo(23, 13, 4)[..., [0, 3]], "LA"), "PNG"))
    add("png_bilevel", "png", pil_bytes(Image.fromarray(grey(33, 9)).convert("1"), "PNG"))
    pimg = Image.fromarray(photo(40, 30)).quantize(colors=200)
    add("png_palette8", "png", pil_bytes(pimg, "PNG"))
    ptr = Image.fromarray(photo(24, 18)).quantize(colors=16)
    ptr.info["transparency"] = bytes([0, 128] + [255] * 14)
    add("png_palette_trns", "png", pil_bytes(ptr, "PNG", transparency=bytes([0, 128] + [255] * 14)))
    add("png_grey_trns", "png", pil_bytes(Image.fromarray(grey(21, 11), "L"), "PNG", transparency=77))
    add("png_rgb_trns", "png", pil_bytes(Image.fromarray(photo(21, 11)), "PNG", transparency=(10, 20, 30)))
    g16 = (rng.integers(0, 65536, size=(15, 27))).astype(np.uint16)
    g16[0, :8] = [0, 1, 254, 255, 256, 1000, 65534, 65535]
    add("png_grey16_pillow", "png", pil_bytes(Image.fromarray(g16.astype(np.int32), "I").convert("I;16"), "PNG"))
    add("png_1x1", "png", pil_bytes(Image.fromarray(photo(1, 1)), "PNG"))

    # ---- PNG assembled here (layouts Pillow cannot write)
    rgb16 = rng.integers(0, 65536, size=(13, 19, 3))
    add("png_rgb16", "png", make_png(rgb16, 16, 2))
    add("png_rgba16", "png", make_png(rng.integers(0, 65536, size=(11, 17, 4)), 16, 6))
    add("png_grey_alpha16", "png", make_png(rng.integers(0, 65536, size=(9, 14, 2)), 16, 4))
    add("png_grey16", "png", make_png(np.concatenate([np.arange(0, 300).reshape(10, 30, 1),
                                                      rng.integers(0, 65536, size=(4, 30, 1))]), 16, 0))
    add("png_grey4", "png", make_png(rng.integers(0, 16, size=(7, 13, 1)), 4, 0))
    add("png_grey2", "png", make_png(rng.integers(0, 4, size=(7, 13, 1)), 2, 0))
    add("png_grey1", "png", make_png(rng.integers(0, 2, size=(7, 13, 1)), 1, 0))
    pal16 = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(16)]
    plte16 = b"".join(bytes(c) for c in pal16)
    add("png_palette4", "png", make_png(rng.integers(0, 16, size=(9, 11, 1)), 4, 3, [(b"PLTE", plte16)]))
    add("png_palette2", "png", make_png(rng.integers(0, 4, size=(9, 11, 1)), 2, 3, [(b"PLTE", plte16[:12])]))
    add("png_palette1", "png", make_png(rng.integers(0, 2, size=(9, 11, 1)), 1, 3, [(b"PLTE", plte16[:6])]))
    # Indices beyond the PLTE entries: Pillow looks them up in its default palette.
    short_idx = rng.integers(0, 6, size=(6, 10, 1))
    short_idx[0, :4, 0] = [4, 5, 200, 255]
    add("png_palette_short", "png", make_png(short_idx, 8, 3, [(b"PLTE", plte16[:12])]))
    add("png_palette_trns_short", "png",
        make_png(rng.integers(0, 16, size=(8, 8, 1)), 8, 3, [(b"PLTE", plte16), (b"tRNS", bytes([0, 50, 100]))]))
    add("png_interlaced_rgb8", "png", make_png(photo(21, 19), 8, 2, interlace=True))
    add("png_interlaced_grey16", "png", make_png(rng.integers(0, 65536, size=(10, 11, 1)), 16, 0, interlace=True))
    add("png_interlaced_palette4", "png",
        make_png(rng.integers(0, 16, size=(5, 7, 1)), 4, 3, [(b"PLTE", plte16)], interlace=True))
    # Ancillary chunks Pillow ignores when decoding pixels (no gamma / ICC applied).
    add("png_with_gamma", "png", make_png(photo(12, 8), 8, 2, [(b"gAMA", struct.pack(">I", 100000))]))

    # Damaged files: Pillow never verifies IDAT checksums and reads nothing
    # after the image data, but checks every chunk CRC before it, and needs
    # all rows. Cases named refused_* are ones Pillow cannot open; eric must
    # refuse them too.
    small = (np.arange(5 * 4 * 3).reshape(4, 5, 3) * 11 % 256).astype(np.uint8)  # no rng: keeps other cases stable
    raw = pack_rows(small.reshape(4, -1), 8)
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 5, 4, 8, 2, 0, 0, 0))
    sig = b"\x89PNG\r\n\x1a\n"
    z = zlib.compress(raw)
    bad_crc = lambda chunk: chunk[:-4] + b"\0\0\0\0"  # noqa: E731
    add("png_bad_idat_crc", "png", sig + ihdr + bad_crc(png_chunk(b"IDAT", z)) + png_chunk(b"IEND", b""))
    add("png_split_idat_bad_crc", "png", sig + ihdr + png_chunk(b"IDAT", z[:10]) + bad_crc(png_chunk(b"IDAT", z[10:]))
        + png_chunk(b"IEND", b""))
    add("png_bad_text_crc_after_idat", "png", sig + ihdr + png_chunk(b"IDAT", z) + bad_crc(png_chunk(b"tEXt", b"a\0b"))
        + png_chunk(b"IEND", b""))
    add("png_no_iend", "png", sig + ihdr + png_chunk(b"IDAT", z))
    add("png_extra_image_data", "png", sig + ihdr + png_chunk(b"IDAT", zlib.compress(raw + raw)) + png_chunk(b"IEND", b""))
    whole = sig + ihdr + png_chunk(b"IDAT", z) + png_chunk(b"IEND", b"")
    add("png_cut_in_stream_checksum", "png", whole[:-12 - 4 - 2])  # rows complete; adler32, CRC, IEND cut
    long_idat = bytearray(sig + ihdr + png_chunk(b"IDAT", z))
    long_idat[33:37] = struct.pack(">I", 0x7FFFFFF0)  # IDAT length far past the end of the file
    add("png_idat_length_past_end", "png", bytes(long_idat))
    bad_adler = bytearray(whole)
    bad_adler[-12 - 4 - 1] ^= 0xFF
    add("refused_png_bad_stream_checksum", "png", bytes(bad_adler))
    add("refused_png_bad_text_crc_before_idat", "png", sig + ihdr + bad_crc(png_chunk(b"tEXt", b"a\0b"))
        + png_chunk(b"IDAT", z) + png_chunk(b"IEND", b""))
    add("refused_png_missing_rows", "png", sig + ihdr + png_chunk(b"IDAT", zlib.compress(raw[:-5])) + png_chunk(b"IEND", b""))

    # ---- JPEG (libjpeg-turbo through Pillow)
    ph = Image.fromarray(photo(45, 31))
    add("jpeg_420", "jpg", pil_bytes(ph, "JPEG", quality=90))
    add("jpeg_444", "jpg", pil_bytes(ph, "JPEG", quality=90, subsampling=0))
    add("jpeg_422", "jpg", pil_bytes(ph, "JPEG", quality=75, subsampling=1))
    add("jpeg_progressive", "jpg", pil_bytes(ph, "JPEG", quality=85, progressive=True))
    add("jpeg_optimized", "jpg", pil_bytes(ph, "JPEG", quality=60, optimize=True))
    add("jpeg_grey", "jpg", pil_bytes(Image.fromarray(grey(33, 17), "L"), "JPEG", quality=90))
    add("jpeg_cmyk", "jpg", pil_bytes(Image.fromarray(photo(26, 18, 4), "CMYK"), "JPEG", quality=90))
    add("jpeg_1x1", "jpg", pil_bytes(Image.fromarray(photo(1, 1)), "JPEG"))
    add("jpeg_large_420", "jpg", pil_bytes(Image.fromarray(photo(160, 97)), "JPEG", quality=92))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW; Image.open must NOT apply it
    add("jpeg_exif_orientation6", "jpg", pil_bytes(Image.fromarray(photo(20, 12)), "JPEG", exif=exif.tobytes()))

    # ---- WebP (libwebp)
    add("webp_lossy", "webp", pil_bytes(Image.fromarray(photo(45, 31)), "WEBP", quality=80))
    add("webp_lossless", "webp", pil_bytes(Image.fromarray(photo(33, 21)), "WEBP", lossless=True))
    add("webp_lossy_alpha", "webp", pil_bytes(Image.fromarray(photo(29, 19, 4), "RGBA"), "WEBP", quality=80))
    add("webp_lossless_alpha", "webp",
        pil_bytes(Image.fromarray(photo(27, 15, 4), "RGBA"), "WEBP", lossless=True, exact=True))
    grown = bytearray(pil_bytes(Image.fromarray((np.arange(9 * 7 * 3).reshape(7, 9, 3) * 7 % 256).astype(np.uint8)),
                                "WEBP", lossless=True))  # no rng: keeps other cases stable
    grown[len(grown) // 2:len(grown) // 2] = b"\x00" * 6  # bytes inserted: the chunk size now cuts the bitstream
    add("refused_webp_chunk_cuts_bitstream", "webp", bytes(grown))
    add("webp_1x1", "webp", pil_bytes(Image.fromarray(photo(1, 1)), "WEBP", quality=90))
    f1, f2 = Image.fromarray(photo(16, 12)), Image.fromarray(photo(16, 12)[::-1].copy())
    add("webp_animated", "webp", pil_bytes(f1, "WEBP", save_all=True, append_images=[f2], lossless=True))

    # ---- GIF
    add("gif_pillow_interlaced", "gif", pil_bytes(Image.fromarray(photo(35, 22)).quantize(colors=64), "GIF"))
    add("gif_pillow_plain", "gif", pil_bytes(Image.fromarray(photo(35, 22)).quantize(colors=256), "GIF",
                                             interlace=False))
    add("gif_grey", "gif", pil_bytes(Image.fromarray(grey(19, 13), "L"), "GIF"))
    g1, g2 = Image.fromarray(photo(20, 14)).quantize(colors=32), Image.fromarray(photo(20, 14)[:, ::-1].copy())
    add("gif_animated", "gif", pil_bytes(g1, "GIF", save_all=True, append_images=[g2.quantize(colors=32)]))
    pal8 = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(8)]
    idx = rng.integers(0, 8, size=12 * 9)
    add("gif_offset_frame", "gif", make_gif(20, 15, pal8, [gif_frame(idx, 5, 3, 12, 9)]))
    add("gif_offset_frame_transparent", "gif",
        make_gif(20, 15, pal8, [gif_frame(idx, 5, 3, 12, 9, transparency=6)]))
    add("gif_frame_beyond_screen", "gif", make_gif(10, 8, pal8, [gif_frame(idx, 4, 2, 12, 9)]))
    add("gif_local_palette", "gif", make_gif(12, 9, pal8, [gif_frame(idx, 0, 0, 12, 9, local_palette=pal8[::-1])]))
    add("gif_no_palette", "gif", make_gif(12, 9, None, [gif_frame(idx * 30, 0, 0, 12, 9)]))
    idx4 = rng.integers(0, 4, size=11 * 7)
    add("gif_index_beyond_table", "gif", make_gif(11, 7, pal8[:2], [gif_frame(idx4, 0, 0, 11, 7)]))
    add("gif_interlaced_custom", "gif", make_gif(13, 11, pal8, [gif_frame(rng.integers(0, 8, 13 * 11), 0, 0, 13, 11,
                                                                           interlace=True)]))
    add("gif_1x1", "gif", make_gif(1, 1, pal8[:2], [gif_frame(np.array([1]), 0, 0, 1, 1)]))
    short = b"," + struct.pack("<HHHHB", 0, 0, 6, 4, 0) + bytes([3]) + lzw_literal_stream(np.arange(12) % 8, 3)
    add("refused_gif_lzw_data_ends_early", "gif", make_gif(6, 4, pal8, [short]))

    # ---- BMP written by Pillow
    add("bmp_rgb24", "bmp", pil_bytes(Image.fromarray(photo(37, 23)), "BMP"))
    add("bmp_grey8", "bmp", pil_bytes(Image.fromarray(grey(29, 11), "L"), "BMP"))
    add("bmp_palette8", "bmp", pil_bytes(Image.fromarray(photo(30, 14)).quantize(colors=100), "BMP"))
    add("bmp_bilevel1", "bmp", pil_bytes(Image.fromarray(grey(35, 9)).convert("1"), "BMP"))
    add("bmp_1x1", "bmp", pil_bytes(Image.fromarray(photo(1, 1)), "BMP"))

    # ---- BMP assembled here
    p = photo(19, 7)
    bgr_rows = [bytes(r[:, ::-1].reshape(-1)) for r in p]
    add("bmp_rgb24_top_down", "bmp", make_bmp(19, 7, 24, bgr_rows, top_down=True))
    bgrx_rows = [bytes(np.concatenate([r[:, ::-1], rng.integers(0, 256, (19, 1))], 1).astype(np.uint8).reshape(-1))
                 for r in p]
    add("bmp_rgb32", "bmp", make_bmp(19, 7, 32, bgrx_rows))
    add("bmp_rgb32_v5_header", "bmp", make_bmp(19, 7, 32, bgrx_rows, header_size=124))
    add("bmp_bitfields32_bgra", "bmp",
        make_bmp(19, 7, 32, bgrx_rows, header_size=108, compression=3, masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000)))
    rgba_rows = [bytes(np.concatenate([r, rng.integers(0, 256, (19, 1))], 1).astype(np.uint8).reshape(-1)) for r in p]
    add("bmp_bitfields32_rgba", "bmp",
        make_bmp(19, 7, 32, rgba_rows, header_size=124, compression=3, masks=(0xFF, 0xFF00, 0xFF0000, 0xFF000000)))
    xbgr_rows = [bytes(np.concatenate([rng.integers(0, 256, (19, 1)), r], 1).astype(np.uint8).reshape(-1)) for r in p]
    add("bmp_bitfields32_xbgr_40", "bmp",
        make_bmp(19, 7, 32, xbgr_rows, header_size=40, compression=3, masks=(0xFF000000, 0xFF0000, 0xFF00)))
    v16 = rng.integers(0, 65536, size=(6, 13))
    rows16 = [b"".join(struct.pack("<H", int(v)) for v in r) for r in v16]
    add("bmp_rgb16_555", "bmp", make_bmp(13, 6, 16, rows16))
    add("bmp_bitfields16_565", "bmp", make_bmp(13, 6, 16, rows16, compression=3, masks=(0xF800, 0x7E0, 0x1F)))
    add("bmp_bitfields16_555_v4", "bmp",
        make_bmp(13, 6, 16, rows16, header_size=108, compression=3, masks=(0x7C00, 0x3E0, 0x1F, 0)))
    pal_c = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(16)]
    i4 = rng.integers(0, 16, size=(9, 21))
    add("bmp_palette4", "bmp", make_bmp(21, 9, 4, [pack_bits_row(r, 4) for r in i4], palette=pal_c))
    i1 = rng.integers(0, 2, size=(9, 21))
    add("bmp_palette1_colour", "bmp", make_bmp(21, 9, 1, [pack_bits_row(r, 1) for r in i1], palette=pal_c[:2]))
    i8 = rng.integers(0, 16, size=(5, 9))
    i8[0, :3] = [20, 128, 255]  # beyond the 16 palette entries
    add("bmp_palette8_short", "bmp", make_bmp(9, 5, 8, [bytes(int(v) for v in r) for r in i8], palette=pal_c))
    add("bmp_os2_palette8", "bmp",
        make_bmp(9, 5, 8, [bytes(int(v) for v in r) for r in np.minimum(i8, 15)],
                 palette=pal_c + [(0, 0, 0)] * 240, header_size=12, palette_entry=3))
    add("bmp_os2_rgb24", "bmp", make_bmp(19, 7, 24, bgr_rows, header_size=12))
    add("bmp_palette8_top_down", "bmp",
        make_bmp(9, 5, 8, [bytes(int(v) for v in r) for r in np.minimum(i8, 15)], palette=pal_c, top_down=True))

    # ---- BMP run-length encoded (Pillow's own RLE decoder, quirks included)
    rle8 = bytes([3, 5, 0, 3, 9, 10, 11, 0, 2, 7, 0, 0,   # row 0: run, odd absolute run (+pad), run, EOL
                  0, 4, 1, 2, 3, 4, 0, 0,                 # row 1: absolute run, EOL pads with 0
                  12, 6,                                  # row 2: run clipped to the row width
                  0, 2, 1, 0, 1, 1,                       # delta (Pillow reads 4 bytes: right=1, up=1)
                  7, 13, 0, 1])                           # run, end of bitmap
    add("bmp_rle8", "bmp", make_bmp(8, 4, 8, None, palette=pal_c, compression=1, pixel_data=rle8))
    rle4 = bytes([5, 0x12, 0, 5, 0x34, 0x56, 0x70,  # run of alternating 1/2, odd absolute run of 5 (reads 2 bytes)
                  0, 0,                                   # EOL
                  9, 0xAB, 0, 6, 0xCD, 0xEF, 0x12, 0,     # run, absolute run of 6
                  4, 0xF0, 0, 0, 9, 0x77, 9, 0x77, 9, 0x77, 0, 1])
    add("bmp_rle4", "bmp", make_bmp(9, 3, 4, None, palette=pal_c, compression=2, pixel_data=rle4))
    return cases


def cases_from_files(paths):
    cases = []
    for i, path in enumerate(paths):
        with open(path, "rb") as f:
            data = f.read()
        stem = "".join(c if c.isalnum() else "_" for c in os.path.splitext(os.path.basename(path))[0])[:40]
        ext = os.path.splitext(path)[1].lstrip(".").lower() or "bin"
        cases.append((f"f{i:04d}_{stem}", ext, data))
    return cases


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=OUT, help="output folder (default: the committed goldens)")
    parser.add_argument("--files", nargs="*", help="use these images instead of the built-in cases")
    args = parser.parse_args()
    out = args.out
    # Built before clearing the folder, so a failing case leaves the old goldens in place.
    cases = cases_from_files(args.files) if args.files else build_cases()
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    manifest = []
    for name, ext, data in cases:
        path = os.path.join(out, f"{name}.{ext}")
        with open(path, "wb") as f:
            f.write(data)
        try:
            with Image.open(path) as im:
                rgb = im.convert("RGB")
        except Exception as e:  # Pillow refuses it: eric must refuse it too
            if not args.files and not name.startswith("refused_"):
                raise
            print(f"{name}: Pillow refuses it ({e})", file=sys.stderr)
            manifest.append(f"{name}\t{name}.{ext}\t0\t0")
            continue
        assert not name.startswith("refused_"), f"{name}: Pillow opens it"
        arr = np.asarray(rgb, dtype=np.uint8)
        assert arr.shape == (rgb.size[1], rgb.size[0], 3)
        with open(os.path.join(out, f"{name}.rgb"), "wb") as f:
            f.write(arr.tobytes())
        manifest.append(f"{name}\t{name}.{ext}\t{rgb.size[0]}\t{rgb.size[1]}")
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        f.write("# name\tfile\twidth\theight  (expected pixels: <name>.rgb, Pillow convert('RGB'); 0x0: Pillow "
                "refuses the file)\n")
        f.write("\n".join(manifest) + "\n")
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {len(manifest)} cases, {total} bytes, to {os.path.normpath(out)}", file=sys.stderr)


if __name__ == "__main__":
    main()
