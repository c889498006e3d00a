#!/usr/bin/env python3
"""make bench-images: the image pipeline on 12-megapixel photographs, against Pillow.

The photos are real ones (Debian's mate-backgrounds, nature/*.jpg and one large abstract
photo), made into 4000 x 3000 JPEGs at quality 92 with 4:2:0 chroma, as a phone writes them,
at run time (never committed). Every third one carries EXIF orientation 6 (a phone held
upright), so it has to be turned: ours moves its DCT blocks upright (lossless, as jpegtran
does); Pillow has no lossless turn, so both of its ways decode it and encode it again.

Each photo is processed by our pipeline (the `images` bench, built like the Lambda
functions) and by Pillow doing the same work: decode, orientation, SHA-256 of the kept
original, a dHash of the medium rendition, both renditions (Lanczos, 640 and 160 px boxes)
and their JPEG encodes at quality 80. Pillow runs two ways:

- "Pillow": its own way to the same outputs. Pillow cannot take metadata out of a JPEG
  without decoding it, so it decodes the photo whole, encodes the original again at quality
  90, and makes the renditions from the decoded image;
- "Pillow, our method": our algorithm in Python: an upright JPEG's original is the file
  without its metadata segments (stripped as bytes), and its renditions come from a draft
  decode (the DCT scaled, `Image.draft`); anything else as above.

Then the near-duplicate threshold: each photo is copied five ways a shop or a supplier would
(half the size, recompressed at quality 60, 3% cropped off each side, 10% brighter, a web
copy 800 px wide at quality 75), every file goes through our pipeline, and the table shows
the Hamming distances of the perceptual hashes: each copy to its photo, and every pair of
different photos, against NEAR_DUPLICATE_BITS (10, shared/src/images/perceptual.rs).

Both sides are pinned to one CPU (a Lambda function at 1,769 MB has one vCPU's worth) and
timed best of --repeat rounds over all the photos (a slow spell of a shared machine then
costs one round of one photo, not every try of it). The peak RSS is that of a process that processes one photo and
exits (its VmHWM), for the largest photo and a turned one.
"""

import argparse
import glob
import hashlib
import io
import os
import statistics
import subprocess
import sys
import time

from PIL import Image, ImageEnhance, ImageOps

NEAR_DUPLICATE_BITS = 10

WIDTH, HEIGHT = 4000, 3000


def build_set(photos, out):
    """12 MP JPEGs from the photos in `photos` (a mate-backgrounds tree), into `out`."""
    os.makedirs(out, exist_ok=True)
    sources = sorted(glob.glob(os.path.join(photos, "nature", "*.jpg")))
    sources += sorted(glob.glob(os.path.join(photos, "abstract", "Elephants_5640x3172.jpg")))
    if not sources:
        sys.exit(f"no photos under {photos}")
    made = []
    for i, source in enumerate(sources):
        name = os.path.join(out, f"{i:02d}-{os.path.basename(source)}")
        made.append(name)
        if os.path.exists(name):
            continue
        im = Image.open(source).convert("RGB")
        scale = max(WIDTH / im.width, HEIGHT / im.height)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
        left, top = (im.width - WIDTH) // 2, (im.height - HEIGHT) // 2
        im = im.crop((left, top, left + WIDTH, top + HEIGHT))
        exif = Image.Exif()
        if i % 3 == 1:
            exif[0x0112] = 6
        im.save(name, quality=92, subsampling=2, exif=exif.tobytes())
    return made


def orientation(data):
    exif = Image.open(io.BytesIO(data)).getexif()
    return exif.get(0x0112, 1)


def icc_assembled(chunks):
    """The profile of APP2 ICC chunks (sequence, count, bytes) when whole (icc.rs's rules)."""
    if not chunks or any(c[1] != chunks[0][1] for c in chunks) or chunks[0][1] != len(chunks):
        return None
    chunks = sorted(chunks)
    if [c[0] for c in chunks] != list(range(1, len(chunks) + 1)):
        return None
    p = b"".join(c[2] for c in chunks)
    ok = 128 <= len(p) <= 1024 * 1024 and p[36:40] == b"acsp" and int.from_bytes(p[0:4], "big") == len(p)
    return p if ok else None


def strip(data):
    """The JPEG without its metadata, the rules of shared/src/images/jpeg.rs in Python."""
    kept = bytearray()
    jfif = avi1 = False
    adobe = None
    icc = []
    i = 2
    while True:
        i = data.index(b"\xff", i)
        while data[i] == 0xFF:
            i += 1
        marker = data[i]
        i += 1
        if marker == 0xD9:
            break
        if marker in (0x00, 0x01) or 0xD0 <= marker <= 0xD8:
            continue
        length = int.from_bytes(data[i : i + 2], "big")
        segment = data[i - 2 : i + length]
        payload = segment[4:]
        i += length
        if marker == 0xE0 and payload.startswith(b"JFIF\0"):
            jfif = True
        elif marker == 0xE0 and payload.startswith(b"AVI1"):
            avi1 = True
        elif marker == 0xE2 and payload.startswith(b"ICC_PROFILE\0") and len(payload) >= 14:
            icc.append((payload[12], payload[13], payload[14:]))
        elif marker == 0xEE and payload.startswith(b"Adobe") and len(payload) >= 12:
            adobe = payload[:12]
        elif 0xE0 <= marker <= 0xEF or marker == 0xFE:
            pass
        elif marker == 0xDA:
            kept += segment
            j = i
            while True:
                j = data.index(b"\xff", j)
                nxt = data[j + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
                    j += 2
                elif nxt == 0xFF:
                    j += 1
                else:
                    break
            kept += data[i:j]
            i = j
        elif marker in (0xC4, 0xCC, 0xDB, 0xDD, 0xDC) or (0xC0 <= marker <= 0xCF and marker != 0xC8):
            kept += segment
    out = bytearray(b"\xff\xd8")
    if jfif:
        out += b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    if avi1:
        out += b"\xff\xe0\x00\x06AVI1"
    profile = icc_assembled(icc)
    if profile:
        parts = [profile[k : k + 65519] for k in range(0, len(profile), 65519)]
        for n, part in enumerate(parts):
            out += b"\xff\xe2" + (len(part) + 16).to_bytes(2, "big") + b"ICC_PROFILE\0" + bytes([n + 1, len(parts)]) + part
    if adobe:
        out += b"\xff\xee\x00\x0e" + adobe
    out += kept + b"\xff\xd9"
    return bytes(out)


def dhash(im):
    grey = im.convert("L").resize((9, 8), Image.LANCZOS)
    px = grey.tobytes()
    return sum(1 << i for i in range(64) if px[(i // 8) * 9 + i % 8] < px[(i // 8) * 9 + i % 8 + 1])


def jpeg(im, quality):
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def renditions(im):
    im.thumbnail((640, 640), Image.LANCZOS)
    medium = jpeg(im, 80)
    perceptual = dhash(im)
    im.thumbnail((160, 160), Image.LANCZOS)
    return perceptual, medium, jpeg(im, 80)


def pillow_own(data):
    im = Image.open(io.BytesIO(data))
    ImageOps.exif_transpose(im, in_place=True)
    im = im.convert("RGB")
    original = jpeg(im, 90)
    return hashlib.sha256(original).hexdigest(), renditions(im)


def pillow_our_method(data):
    if orientation(data) != 1:
        return pillow_own(data)
    kept = strip(data)
    im = Image.open(io.BytesIO(kept))
    im.draft("RGB", (640, 640))
    return hashlib.sha256(kept).hexdigest(), renditions(im.convert("RGB"))


def best_ms(fn, data, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(data)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def peak_rss_mib(command):
    """The peak RSS a process reports of itself (a forked child's ru_maxrss would count the
    parent's pages it started with)."""
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return int(out.split("\t")[2]) / 1024


def copies(photos, out):
    """Five near copies of each photo, as JPEG files in `out`: {photo name: {kind: path}}."""
    os.makedirs(out, exist_ok=True)
    made = {}
    for path in photos:
        name = os.path.basename(path)
        im = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        w, h = im.size
        kinds = {
            "half": (im.resize((w // 2, h // 2), Image.LANCZOS), 85),
            "quality 60": (im, 60),
            "cropped 3%": (im.crop((w * 3 // 100, h * 3 // 100, w - w * 3 // 100, h - h * 3 // 100)), 90),
            "brighter": (ImageEnhance.Brightness(im).enhance(1.1), 90),
            "web 800 px": (im.resize((800, round(800 * h / w)), Image.LANCZOS), 75),
        }
        made[name] = {}
        for kind, (copy, quality) in kinds.items():
            target = os.path.join(out, f"{name[:-4]}--{kind.replace(' ', '-').replace('%', '')}.jpg")
            if not os.path.exists(target):
                copy.save(target, quality=quality)
            made[name][kind] = target
    return made


def distance(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def near_duplicates(bench, photos, out):
    made = copies(photos, out)
    perceptual = {}
    for directory in {os.path.dirname(photos[0]), out}:
        lines = subprocess.run([bench, "--dir", directory, "--repeat", "1"], check=True,
                               capture_output=True, text=True).stdout.splitlines()
        for line in lines:
            fields = line.split("\t")
            perceptual[os.path.join(directory, fields[0])] = fields[5]
    print()
    print(f"near copies: Hamming distance of the perceptual hash to the photo's (near: <= {NEAR_DUPLICATE_BITS} bits)")
    kinds = list(next(iter(made.values())))
    print(f"{'copy':14} {'median':>6} {'max':>4} {'found':>7}")
    for kind in kinds:
        d = [distance(perceptual[p], perceptual[made[os.path.basename(p)][kind]]) for p in photos]
        found = sum(x <= NEAR_DUPLICATE_BITS for x in d)
        print(f"{kind:14} {statistics.median(d):6.0f} {max(d):4d} {found:4d}/{len(d)}")
    pairs = [distance(perceptual[a], perceptual[b]) for i, a in enumerate(photos) for b in photos[i + 1:]]
    near = sum(x <= NEAR_DUPLICATE_BITS for x in pairs)
    print(f"different photos: {len(pairs)} pairs, min {min(pairs)}, median {statistics.median(pairs):.0f}; "
          f"{near} within {NEAR_DUPLICATE_BITS} bits")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", required=True, help="a mate-backgrounds tree (usr/share/backgrounds/mate)")
    parser.add_argument("--set", required=True, help="where the 12 MP photos are built")
    parser.add_argument("--bench", required=True, help="the images bench binary")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)))
    args = parser.parse_args()

    photos = build_set(args.photos, args.set)
    os.sched_setaffinity(0, {args.cpu})  # the bench below inherits it
    ours = {}
    lines = subprocess.run(
        [args.bench, "--dir", args.set, "--repeat", str(args.repeat)],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    for line in lines:
        name, ms, kept, size, digest, _ = line.split("\t")
        ours[name] = (float(ms), kept, int(size), digest)

    # Pillow in rounds over the photos too, each photo's best kept.
    pillow = {os.path.basename(p): {"own": float("inf"), "same": float("inf")} for p in photos}
    for _ in range(args.repeat):
        for path in photos:
            data = open(path, "rb").read()
            best = pillow[os.path.basename(path)]
            best["own"] = min(best["own"], best_ms(pillow_own, data, 1))
            best["same"] = min(best["same"], best_ms(pillow_our_method, data, 1))

    print(f"12 MP photos ({WIDTH} x {HEIGHT}, JPEG q92 4:2:0), one CPU, best of {args.repeat}; "
          f"Pillow {Image.__version__}")
    header = f"{'photo':30} {'MB':>5} {'turned':>6} {'original':>8} {'ours ms':>8} {'Pillow ms':>10} {'ratio':>6} {'Pillow, our method ms':>22} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    rows = []
    for path in photos:
        name = os.path.basename(path)
        data = open(path, "rb").read()
        own = pillow[name]["own"]
        same = pillow[name]["same"]
        ms, kept, _, digest = ours[name]
        turned = "yes" if orientation(data) != 1 else "no"
        # An upright photo's kept original is the file without its metadata (a turned one's
        # is its blocks moved upright: another file).
        if kept == "kept" and turned == "no" and digest != hashlib.sha256(strip(data)).hexdigest():
            sys.exit(f"{name}: our kept original is not the file without its metadata")
        rows.append((ms, own, same, turned))
        print(f"{name:30} {len(data) / 1e6:5.1f} {turned:>6} {kept:>8} {ms:8.1f} {own:10.1f} {ms / own:6.2f} {same:22.1f} {ms / same:6.2f}")

    def summary(label, chosen):
        if not chosen:
            return
        ours_ms = [r[0] for r in chosen]
        own = [r[1] for r in chosen]
        same = [r[2] for r in chosen]
        print(f"{label:30} {'':5} {'':6} {'':8} {statistics.median(ours_ms):8.1f} {statistics.median(own):10.1f} "
              f"{statistics.median(o / p for o, p in zip(ours_ms, own)):6.2f} {statistics.median(same):22.1f} "
              f"{statistics.median(o / s for o, s in zip(ours_ms, same)):6.2f}")

    print("-" * len(header))
    summary("median, upright", [r for r in rows if r[3] == "no"])
    summary("median, turned", [r for r in rows if r[3] == "yes"])
    summary("median, all", rows)
    total = sum(r[0] for r in rows)
    print(f"total: ours {total:.0f} ms, Pillow {sum(r[1] for r in rows):.0f} ms "
          f"(ratio {total / sum(r[1] for r in rows):.2f}), Pillow our method {sum(r[2] for r in rows):.0f} ms "
          f"(ratio {total / sum(r[2] for r in rows):.2f})")

    near_duplicates(args.bench, photos, args.set + "-copies")

    largest = max(photos, key=os.path.getsize)
    turned = next((p for p in photos if orientation(open(p, "rb").read()) != 1), largest)
    for label, path in (("largest", largest), ("turned", turned)):
        rss = peak_rss_mib([args.bench, "--once", path])
        print(f"peak RSS, one {label} photo in its own process ({os.path.basename(path)}): {rss:.0f} MiB")


if __name__ == "__main__":
    main()
