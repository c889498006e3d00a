//! A turned JPEG made upright without decoding its pixels, as jpegtran's lossless transforms
//! do: the quantized DCT coefficients of a baseline scan are read, each block moved to its
//! upright place and transposed or mirrored in the frequency domain (a mirror negates the odd
//! frequencies across it), and the blocks coded again with the standard Huffman tables. No
//! inverse DCT, no rounding, no generation loss: the upright original is the photo as taken.
//!
//! A mirror would move the partial blocks at the image's right or bottom edge (padding to a
//! whole MCU) to its left or top, which JPEG cannot say; as `jpegtran -trim` does, those
//! edge pixels (fewer than one MCU, 16 at most) are dropped. Anything else than one
//! interleaved baseline scan at 8 bits with grey or YCbCr (progressive, several scans, odd
//! sampling factors) gives `None`, and the caller decodes and encodes the pixels instead.

use super::entropy::{
    AC_CHROMA, AC_LUMA, BitReader, BitWriter, Block, DC_CHROMA, DC_LUMA, DecodeTable, EncodeTable,
    Placement, TableSpec, ZIGZAG,
};
use super::{DHT, DQT, DRI, EOI, SOI, SOS, scan_end};

/// An upright JPEG made from a turned one.
#[derive(Debug, Clone)]
pub struct Upright {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Its quantized DCT coefficients, one plane a component in the frame's order, as its
    /// scan codes them: what a decoder would read out of `bytes`, at hand for one that wants
    /// the pixels without reading them again.
    pub planes: Vec<Plane>,
}

/// A component of an upright JPEG: its blocks of quantized coefficients and what divided them.
#[derive(Debug, Clone)]
pub struct Plane {
    /// The component's id in the frame.
    pub id: u8,
    /// Its sampling factors across and down (as the frame says them; 1 for the one
    /// component of a grey image, whose blocks are its MCUs).
    pub h: usize,
    pub v: usize,
    /// Its blocks, row by row, `across` a row and `down` rows: whole MCUs, so past the image's
    /// right and bottom edges when its sides are not whole MCUs. 64 coefficients a block, in
    /// zigzag order, back to back.
    pub across: usize,
    pub down: usize,
    pub coefficients: Vec<i16>,
    /// Its quantization table, in zigzag order as the blocks.
    pub quant: [u16; 64],
}

/// How a turn moves pixels: transpose first (if), then mirror left-right, then top-bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Moves {
    transpose: bool,
    mirror_x: bool,
    mirror_y: bool,
}

impl Moves {
    /// The moves that undo an EXIF orientation (1 to 8); `None` for any other number.
    fn of(exif_orientation: u8) -> Option<Self> {
        let (transpose, mirror_x, mirror_y) = match exif_orientation {
            1 => (false, false, false),
            // Mirrored left-right.
            2 => (false, true, false),
            // Turned half round.
            3 => (false, true, true),
            // Mirrored top-bottom.
            4 => (false, false, true),
            // (x, y) <- (y, x): transposed.
            5 => (true, false, false),
            // Turned a quarter clockwise to be upright, (x, y) <- (y, h - 1 - x): transposed,
            // then mirrored left-right.
            6 => (true, true, false),
            // (x, y) <- (w - 1 - y, h - 1 - x)
            7 => (true, true, true),
            // (x, y) <- (w - 1 - y, x)
            8 => (true, false, true),
            _ => return None,
        };
        Some(Moves {
            transpose,
            mirror_x,
            mirror_y,
        })
    }

    /// Where each coefficient of a block (zigzag order) goes in the moved block, and whether
    /// it changes sign: a transpose swaps the frequencies across and down, a mirror negates
    /// the odd frequencies across it.
    fn placement(self) -> Placement {
        let mut zigzag_of = [0usize; 64];
        for (k, &n) in ZIGZAG.iter().enumerate() {
            zigzag_of[n] = k;
        }
        let mut place = [(0, 0); 64];
        for (k, &n) in ZIGZAG.iter().enumerate() {
            // The moved block's coefficient k, at (row, col), is the source's `from`.
            let (row, col) = (n / 8, n % 8);
            let from = if self.transpose {
                col * 8 + row
            } else {
                row * 8 + col
            };
            let negate = (self.mirror_x && col % 2 == 1) ^ (self.mirror_y && row % 2 == 1);
            place[zigzag_of[from]] = (k as u8, -i16::from(negate));
        }
        place
    }
}

/// The upright image: its size (a mirrored side cut to whole MCUs) and its MCUs.
#[derive(Debug, Clone, Copy)]
struct Layout {
    width: usize,
    height: usize,
    mcus_x: usize,
    mcus_y: usize,
}

struct Component {
    id: u8,
    /// Sampling factors as coded (before the turn).
    h: usize,
    v: usize,
    quant: usize,
    dc: usize,
    ac: usize,
    /// The blocks as coded: `across` a row, `down` rows (whole MCUs, padding included).
    across: usize,
    down: usize,
    /// The upright blocks, row by row, `upright_across` a row: each moved as it was read.
    /// 64 coefficients a block, back to back (allocated zeroed: a `Vec<Block>` would be
    /// written with zeros block by block).
    upright_across: usize,
    upright_down: usize,
    upright: Vec<i16>,
    /// Each upright block's AC coefficients that are not zero (see [`BitReader::block`]).
    nonzero: Vec<u64>,
}

/// What the file says before its scan.
struct Header<'a> {
    /// APP segments kept as they are (JFIF, ICC profile, Adobe).
    apps: Vec<&'a [u8]>,
    /// Quantization tables by id: precision (0: 8 bits, 1: 16) and values in zigzag order.
    quant: [Option<(u8, [u16; 64])>; 4],
    dc: [Option<DecodeTable>; 4],
    ac: [Option<DecodeTable>; 4],
    restart: usize,
    width: usize,
    height: usize,
    /// In the frame's order.
    components: Vec<Component>,
    /// The components' indices in the order the scan codes them.
    scan_order: Vec<usize>,
    scan: &'a [u8],
}

/// The JPEG `bytes` (its segments back to back from SOI, as a camera or an encoder writes
/// them) made upright from its EXIF orientation `exif_orientation` (1 to 8: the EXIF segment
/// itself is not read, and not written), holding at most `max_bytes` of coefficients.
/// `None` when it is not one baseline scan of grey or YCbCr this can move (progressive,
/// several scans, arithmetic coding, odd sampling), or a mirrored side is shorter than an MCU.
pub fn upright(bytes: &[u8], exif_orientation: u8, max_bytes: u64) -> Option<Upright> {
    let moves = Moves::of(exif_orientation)?;
    let (header, layout) = read(bytes, moves, max_bytes)?;
    let bytes = write(&header, moves, layout)?;
    let Coefficients {
        width,
        height,
        planes,
    } = planes(header, moves, layout)?;
    Some(Upright {
        bytes,
        width,
        height,
        planes,
    })
}

/// The quantized DCT coefficients of a JPEG as it is (what [`upright`] reads, for a caller
/// that wants pixels of a baseline photo and can make them from its coefficients).
#[derive(Debug, Clone)]
pub struct Coefficients {
    pub width: u32,
    pub height: u32,
    /// One plane a component, in the frame's order.
    pub planes: Vec<Plane>,
}

/// The coefficients of the JPEG `bytes` (segments back to back from SOI), holding at most
/// `max_bytes` of them; `None` when it is not one baseline scan of grey or YCbCr (the same
/// files as [`upright`]).
pub fn coefficients(bytes: &[u8], max_bytes: u64) -> Option<Coefficients> {
    let moves = Moves::of(1)?;
    let (header, layout) = read(bytes, moves, max_bytes)?;
    planes(header, moves, layout)
}

/// The file's header and its scan's blocks, each moved as it is read.
fn read(bytes: &[u8], moves: Moves, max_bytes: u64) -> Option<(Header<'_>, Layout)> {
    if bytes.get(..2)? != [0xFF, SOI] {
        return None;
    }
    let mut header = read_header(bytes)?;
    let layout = lay_out(&mut header, moves, max_bytes)?;
    decode_scan(&mut header, moves)?;
    Some((header, layout))
}

/// The moved blocks, a plane a component; `None` when a component has no quantization table.
fn planes(header: Header<'_>, moves: Moves, layout: Layout) -> Option<Coefficients> {
    let place = moves.placement();
    let planes = header
        .components
        .into_iter()
        .map(|c| {
            let (h, v) = upright_sampling(&c, moves);
            let (_, values) = header.quant[c.quant]?;
            Some(Plane {
                id: c.id,
                h,
                v,
                across: c.upright_across,
                down: c.upright_down,
                coefficients: c.upright,
                quant: moved(&values, &place),
            })
        })
        .collect::<Option<_>>()?;
    Some(Coefficients {
        width: layout.width as u32,
        height: layout.height as u32,
        planes,
    })
}

/// A quantization table moved with the coefficients it divides (never negated).
fn moved(values: &[u16; 64], place: &Placement) -> [u16; 64] {
    let mut moved = [0u16; 64];
    for (k, &(to, _)) in place.iter().enumerate() {
        moved[usize::from(to)] = values[k];
    }
    moved
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn read_header(bytes: &[u8]) -> Option<Header<'_>> {
    let mut h = Header {
        apps: Vec::new(),
        quant: [None; 4],
        // A motion-JPEG frame leaves the standard tables out (T.81 Annex K, as AVI1 says).
        dc: [
            DecodeTable::new(DC_LUMA),
            DecodeTable::new(DC_CHROMA),
            None,
            None,
        ],
        ac: [
            DecodeTable::new(AC_LUMA),
            DecodeTable::new(AC_CHROMA),
            None,
            None,
        ],
        restart: 0,
        width: 0,
        height: 0,
        components: Vec::new(),
        scan_order: Vec::new(),
        scan: &[],
    };
    let mut at = 2;
    loop {
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        // After the one scan, only its end: tables redefined there would change what the
        // coefficients mean, and a second scan is not this path.
        if !h.scan.is_empty() && marker != EOI {
            return None;
        }
        if marker == EOI {
            return (!h.scan.is_empty()).then_some(h);
        }
        let length = u16_at(bytes, at + 2)?;
        let segment = bytes.get(at..at + 2 + length)?;
        let payload = segment.get(4..)?;
        at += 2 + length;
        match marker {
            // What says how to read the colours (JFIF, the ICC profile, Adobe's transform);
            // never EXIF, whose orientation would turn the upright image again.
            0xE0 | 0xE2 | 0xEE
                if payload.starts_with(b"JFIF\0")
                    || payload.starts_with(b"ICC_PROFILE\0")
                    || payload.starts_with(b"Adobe") =>
            {
                h.apps.push(segment)
            }
            0xE0..=0xEF => {}
            DQT => {
                let mut p = payload;
                while let [pq_tq, rest @ ..] = p {
                    let (precision, id) = (pq_tq >> 4, usize::from(pq_tq & 15));
                    if precision > 1 {
                        return None;
                    }
                    let size = if precision == 0 { 64 } else { 128 };
                    let (values, rest) = (rest.get(..size)?, rest.get(size..)?);
                    let mut table = [0u16; 64];
                    for (k, q) in table.iter_mut().enumerate() {
                        *q = if precision == 0 {
                            u16::from(values[k])
                        } else {
                            u16::from_be_bytes([values[2 * k], values[2 * k + 1]])
                        };
                    }
                    *h.quant.get_mut(id)? = Some((precision, table));
                    p = rest;
                }
            }
            DHT => {
                let mut p = payload;
                while let [tc_th, rest @ ..] = p {
                    let counts: &[u8; 16] = rest.get(..16)?.try_into().ok()?;
                    let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let values = rest.get(16..16 + n)?;
                    let table = DecodeTable::new(TableSpec { counts, values })?;
                    let id = usize::from(tc_th & 15);
                    match tc_th >> 4 {
                        0 => *h.dc.get_mut(id)? = Some(table),
                        1 => *h.ac.get_mut(id)? = Some(table),
                        _ => return None,
                    }
                    p = rest.get(16 + n..)?;
                }
            }
            DRI => h.restart = u16_at(payload, 0)?,
            // Baseline or extended sequential Huffman, 8 bits; one frame.
            0xC0 | 0xC1 if h.components.is_empty() => {
                let [8, h1, h0, w1, w0, count, rest @ ..] = payload else {
                    return None;
                };
                h.height = usize::from(u16::from_be_bytes([*h1, *h0]));
                h.width = usize::from(u16::from_be_bytes([*w1, *w0]));
                if !matches!(count, 1 | 3) || rest.len() < 3 * usize::from(*count) {
                    return None;
                }
                for c in rest.chunks_exact(3).take(usize::from(*count)) {
                    let (hs, vs) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
                    if !(1..=4).contains(&hs) || !(1..=4).contains(&vs) || c[2] > 3 {
                        return None;
                    }
                    h.components.push(Component {
                        id: c[0],
                        h: hs,
                        v: vs,
                        quant: usize::from(c[2]),
                        dc: 0,
                        ac: 0,
                        across: 0,
                        down: 0,
                        upright_across: 0,
                        upright_down: 0,
                        upright: Vec::new(),
                        nonzero: Vec::new(),
                    });
                }
            }
            SOS if h.scan.is_empty() && !h.components.is_empty() => {
                let [count, rest @ ..] = payload else {
                    return None;
                };
                // One scan of every component, all 64 coefficients, no successive approximation.
                if usize::from(*count) != h.components.len()
                    || rest.get(2 * usize::from(*count)..)? != [0, 63, 0]
                {
                    return None;
                }
                // The scan may list the components in another order than the frame: it is
                // read in its order, and written in the frame's (whose first is Y).
                for sel in rest.chunks_exact(2).take(usize::from(*count)) {
                    let i = h.components.iter().position(|c| c.id == sel[0])?;
                    if h.scan_order.contains(&i) {
                        return None;
                    }
                    let c = &mut h.components[i];
                    (c.dc, c.ac) = (usize::from(sel[1] >> 4), usize::from(sel[1] & 15));
                    if c.dc > 3 || c.ac > 3 {
                        return None;
                    }
                    h.scan_order.push(i);
                }
                let end = scan_end(bytes, at);
                h.scan = &bytes[at..end];
                at = end;
            }
            // Anything else (another frame or scan, DNL, arithmetic coding): not this path.
            _ => return None,
        }
    }
}

/// The largest sampling factors, and whether the scan is one component (whose blocks are
/// then its own MCUs, whatever its factors say).
fn sampling(components: &[Component]) -> (usize, usize) {
    if components.len() == 1 {
        return (1, 1);
    }
    let hmax = components.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = components.iter().map(|c| c.v).max().unwrap_or(1);
    (hmax, vmax)
}

/// Checks the sampling, sizes the blocks as coded and upright, and sets aside the upright
/// blocks (within the decoder's memory limit). `None` for sampling factors a scan cannot
/// have, or a mirrored side shorter than one MCU.
fn lay_out(h: &mut Header<'_>, moves: Moves, max_bytes: u64) -> Option<Layout> {
    if h.width == 0 || h.height == 0 {
        return None;
    }
    if h.components.len() == 1 {
        h.components[0].h = 1;
        h.components[0].v = 1;
    }
    let (hmax, vmax) = sampling(&h.components);
    if h.components
        .iter()
        .any(|c| hmax % c.h != 0 || vmax % c.v != 0)
        || h.components.iter().map(|c| c.h * c.v).sum::<usize>() > 10
    {
        return None;
    }
    let (mcus_x, mcus_y) = (h.width.div_ceil(8 * hmax), h.height.div_ceil(8 * vmax));
    let (mut width, mut height, hmax, vmax) = if moves.transpose {
        (h.height, h.width, vmax, hmax)
    } else {
        (h.width, h.height, hmax, vmax)
    };
    if moves.mirror_x {
        width -= width % (8 * hmax);
    }
    if moves.mirror_y {
        height -= height % (8 * vmax);
    }
    if width == 0 || height == 0 {
        return None;
    }
    let layout = Layout {
        width,
        height,
        mcus_x: width.div_ceil(8 * hmax),
        mcus_y: height.div_ceil(8 * vmax),
    };
    let mut bytes = 0usize;
    for c in &mut h.components {
        (c.across, c.down) = (mcus_x * c.h, mcus_y * c.v);
        let (uh, uv) = upright_sampling(c, moves);
        (c.upright_across, c.upright_down) = (layout.mcus_x * uh, layout.mcus_y * uv);
        bytes += c.upright_across * c.upright_down * (std::mem::size_of::<Block>() + 8);
    }
    if bytes as u64 > max_bytes {
        return None;
    }
    for c in &mut h.components {
        c.upright = vec![0; 64 * c.upright_across * c.upright_down];
        c.nonzero = vec![0; c.upright_across * c.upright_down];
    }
    Some(layout)
}

/// A component's sampling factors after the turn.
fn upright_sampling(c: &Component, moves: Moves) -> (usize, usize) {
    if moves.transpose {
        (c.v, c.h)
    } else {
        (c.h, c.v)
    }
}

/// Where the block coded at (`x`, `y`) goes among the component's upright blocks; `None` for
/// a block of a trimmed edge.
fn upright_index(c: &Component, moves: Moves, x: usize, y: usize) -> Option<usize> {
    let (tx, ty) = if moves.transpose { (y, x) } else { (x, y) };
    let ux = if moves.mirror_x {
        c.upright_across.checked_sub(tx + 1)?
    } else {
        tx
    };
    let uy = if moves.mirror_y {
        c.upright_down.checked_sub(ty + 1)?
    } else {
        ty
    };
    (ux < c.upright_across && uy < c.upright_down).then(|| uy * c.upright_across + ux)
}

/// Block `at` of coefficients laid out 64 a block.
fn block_at(coefficients: &mut [i16], at: usize) -> &mut Block {
    (&mut coefficients[64 * at..64 * at + 64])
        .try_into()
        .expect("64 coefficients")
}

/// Reads every block of the scan, each straight into its upright place, moved.
fn decode_scan(h: &mut Header<'_>, moves: Moves) -> Option<()> {
    let place = moves.placement();
    let (mcus_x, mcus_y) = (
        h.components[0].across / h.components[0].h,
        h.components[0].down / h.components[0].v,
    );
    let mut reader = BitReader::new(h.scan);
    let mut preds = vec![0i32; h.components.len()];
    let mut trimmed: Block = [0; 64];
    for mcu in 0..mcus_x * mcus_y {
        if h.restart > 0 && mcu > 0 && mcu % h.restart == 0 {
            if !reader.restart() {
                return None;
            }
            preds.fill(0);
        }
        let (mx, my) = (mcu % mcus_x, mcu / mcus_x);
        for &i in &h.scan_order {
            let (c, pred) = (&mut h.components[i], &mut preds[i]);
            let dc = h.dc[c.dc].as_ref()?;
            let ac = h.ac[c.ac].as_ref()?;
            for v in 0..c.v {
                for u in 0..c.h {
                    let (x, y) = (mx * c.h + u, my * c.v + v);
                    match upright_index(c, moves, x, y) {
                        Some(at) => {
                            c.nonzero[at] =
                                reader.block(dc, ac, pred, &place, block_at(&mut c.upright, at))?;
                        }
                        None => {
                            trimmed.fill(0);
                            reader.block(dc, ac, pred, &place, &mut trimmed)?;
                        }
                    }
                }
            }
        }
    }
    Some(())
}

fn segment(out: &mut Vec<u8>, marker: u8, payload: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
}

fn dht(payload: &mut Vec<u8>, class_id: u8, spec: TableSpec<'_>) {
    payload.push(class_id);
    payload.extend_from_slice(spec.counts);
    payload.extend_from_slice(spec.values);
}

/// The upright file: the kept APP segments, the quantization tables (transposed with the
/// blocks), a baseline frame, the standard Huffman tables and one scan.
fn write(h: &Header<'_>, moves: Moves, layout: Layout) -> Option<Vec<u8>> {
    let place = moves.placement();
    let mut out = Vec::with_capacity(h.scan.len() + 4096);
    out.extend_from_slice(&[0xFF, 0xD8]);
    for app in &h.apps {
        // A motion-JPEG frame's APP0 says "no Huffman tables here"; these have them.
        if !app.get(4..).is_some_and(|p| p.starts_with(b"AVI1")) {
            out.extend_from_slice(app);
        }
    }
    for (id, table) in h.quant.iter().enumerate() {
        let Some((precision, values)) = table else {
            continue;
        };
        let mut payload = vec![precision << 4 | id as u8];
        for q in moved(values, &place) {
            if *precision == 0 {
                payload.push(q as u8);
            } else {
                payload.extend_from_slice(&q.to_be_bytes());
            }
        }
        segment(&mut out, DQT, &payload);
    }
    let mut sof = vec![8];
    sof.extend_from_slice(&(layout.height as u16).to_be_bytes());
    sof.extend_from_slice(&(layout.width as u16).to_be_bytes());
    sof.push(h.components.len() as u8);
    for c in &h.components {
        let (ch, cv) = upright_sampling(c, moves);
        sof.extend_from_slice(&[c.id, (ch << 4 | cv) as u8, c.quant as u8]);
    }
    // Extended sequential when a quantization table has 16-bit values, baseline otherwise.
    let wide = h
        .quant
        .iter()
        .flatten()
        .any(|(precision, _)| *precision == 1);
    segment(&mut out, if wide { 0xC1 } else { 0xC0 }, &sof);
    let mut tables = Vec::new();
    dht(&mut tables, 0x00, DC_LUMA);
    dht(&mut tables, 0x10, AC_LUMA);
    if h.components.len() > 1 {
        dht(&mut tables, 0x01, DC_CHROMA);
        dht(&mut tables, 0x11, AC_CHROMA);
    }
    segment(&mut out, DHT, &tables);
    let mut sos = vec![h.components.len() as u8];
    for (i, c) in h.components.iter().enumerate() {
        sos.extend_from_slice(&[c.id, if i == 0 { 0x00 } else { 0x11 }]);
    }
    sos.extend_from_slice(&[0, 63, 0]);
    segment(&mut out, SOS, &sos);

    let luma = (
        EncodeTable::new(DC_LUMA).expect("a standard table"),
        EncodeTable::new(AC_LUMA).expect("a standard table"),
    );
    let chroma = (
        EncodeTable::new(DC_CHROMA).expect("a standard table"),
        EncodeTable::new(AC_CHROMA).expect("a standard table"),
    );
    let mut writer = BitWriter::new(h.scan.len() + h.scan.len() / 8);
    let mut preds = vec![0i32; h.components.len()];
    for my in 0..layout.mcus_y {
        for mx in 0..layout.mcus_x {
            for (i, (c, pred)) in h.components.iter().zip(preds.iter_mut()).enumerate() {
                let (ch, cv) = upright_sampling(c, moves);
                let (dc, ac) = if i == 0 { &luma } else { &chroma };
                for v in 0..cv {
                    let row = (my * cv + v) * c.upright_across + mx * ch;
                    let blocks = c.upright[64 * row..64 * (row + ch)].chunks_exact(64);
                    for (block, &nonzero) in blocks.zip(&c.nonzero[row..row + ch]) {
                        let block = block.try_into().expect("64 coefficients");
                        writer.block(dc, ac, pred, block, nonzero)?;
                    }
                }
            }
        }
    }
    let mut bytes = out;
    bytes.extend_from_slice(&writer.finish());
    bytes.extend_from_slice(&[0xFF, EOI]);
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use image::{DynamicImage, RgbImage};
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

    use super::*;
    use image::metadata::Orientation;

    const ALL: [Orientation; 8] = [
        Orientation::NoTransforms,
        Orientation::FlipHorizontal,
        Orientation::FlipVertical,
        Orientation::Rotate180,
        Orientation::Rotate90,
        Orientation::Rotate270,
        Orientation::Rotate90FlipH,
        Orientation::Rotate270FlipH,
    ];

    /// Smooth colour with edges: what a transform that moved a block wrong would show.
    fn picture(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            let disc = (x as i32 - 150).pow(2) + (y as i32 - 90).pow(2) < 60 * 60;
            let bar = (x / 23 + y / 17) % 2 == 0;
            image::Rgb([
                (x * 255 / width) as u8,
                if disc { 240 } else { (y * 255 / height) as u8 },
                if bar { 200 } else { 40 },
            ])
        })
    }

    fn encoded(image: &RgbImage, sampling: SamplingFactor, grey: bool, restart: u16) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out, 88);
        e.set_sampling_factor(sampling);
        e.set_restart_interval(restart);
        if grey {
            let luma = DynamicImage::ImageRgb8(image.clone()).to_luma8();
            e.encode(
                luma.as_raw(),
                image.width() as u16,
                image.height() as u16,
                ColorType::Luma,
            )
            .unwrap();
        } else {
            e.encode(
                image.as_raw(),
                image.width() as u16,
                image.height() as u16,
                ColorType::Rgb,
            )
            .unwrap();
        }
        out
    }

    fn decoded(bytes: &[u8]) -> DynamicImage {
        let mut d = jpeg_decoder::Decoder::new(bytes);
        let pixels = d.decode().unwrap();
        let info = d.info().unwrap();
        let (w, h) = (u32::from(info.width), u32::from(info.height));
        match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 => {
                DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, pixels).unwrap())
            }
            _ => DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, pixels).unwrap()),
        }
    }

    /// Every orientation, on 4:2:0, 4:2:2 and 4:4:4 colour and on grey, with and without
    /// restart markers, at a size that is no whole number of MCUs: the upright file shows what
    /// decoding the turned one and turning its pixels shows, less the trimmed edge, to within
    /// the decoder's rounding.
    #[test]
    fn every_turn_matches_turning_the_pixels() {
        let image = picture(203, 141);
        for (sampling, grey, restart) in [
            (SamplingFactor::F_2_2, false, 0),
            (SamplingFactor::F_2_1, false, 5),
            (SamplingFactor::F_1_1, false, 0),
            (SamplingFactor::F_1_1, true, 7),
        ] {
            let bytes = encoded(&image, sampling, grey, restart);
            let original = decoded(&bytes);
            for orientation in ALL {
                let what = format!("{sampling:?} grey {grey} restart {restart} {orientation:?}");
                let turned = upright(&bytes, orientation.to_exif(), u64::MAX).expect(&what);
                let got = decoded(&turned.bytes);
                assert_eq!(
                    (got.width(), got.height()),
                    (turned.width, turned.height),
                    "{what}"
                );
                let mut want = original.clone();
                want.apply_orientation(orientation);
                // A mirrored side lost its partial MCU at the start of the upright image.
                let (dx, dy) = (want.width() - got.width(), want.height() - got.height());
                assert!(dx < 16 && dy < 16, "{what}: trimmed {dx} x {dy}");
                let moves = Moves::of(orientation.to_exif()).unwrap();
                assert!(dx == 0 || moves.mirror_x, "{what}");
                assert!(dy == 0 || moves.mirror_y, "{what}");
                let want = want.crop_imm(dx, dy, got.width(), got.height());
                let (a, b) = (got.to_rgb8(), want.to_rgb8());
                let diffs: Vec<u32> = a
                    .as_raw()
                    .iter()
                    .zip(b.as_raw())
                    .map(|(x, y)| u32::from(x.abs_diff(*y)))
                    .collect();
                let mean = diffs.iter().sum::<u32>() as f64 / diffs.len() as f64;
                let worst = diffs.iter().max().copied().unwrap_or(0);
                assert!(
                    mean < 1.0 && worst < 64,
                    "{what}: mean {mean:.2}, worst {worst}"
                );
            }
        }
    }

    /// The first quantization table of `bytes`, in natural (row-major) order.
    fn first_table(bytes: &[u8]) -> [u16; 64] {
        let at = bytes.windows(2).position(|w| w == [0xFF, DQT]).unwrap();
        let values = &bytes[at + 5..at + 5 + 64];
        let mut natural = [0u16; 64];
        for (k, &n) in ZIGZAG.iter().enumerate() {
            natural[n] = u16::from(values[k]);
        }
        natural
    }

    #[test]
    fn quantization_tables_move_with_their_coefficients() {
        // Quality 50: Annex K's tables as they are, far from symmetric (16 11 / 12 12 ...).
        let mut bytes = Vec::new();
        Encoder::new(&mut bytes, 50)
            .encode(picture(64, 48).as_raw(), 64, 48, ColorType::Rgb)
            .unwrap();
        let before = first_table(&bytes);
        assert_ne!(before[1], before[8], "the test needs an asymmetric table");
        for exif in 1..=8 {
            let after = first_table(&upright(&bytes, exif, u64::MAX).unwrap().bytes);
            let transposed = exif >= 5;
            for r in 0..8 {
                for c in 0..8 {
                    let want = if transposed {
                        before[c * 8 + r]
                    } else {
                        before[r * 8 + c]
                    };
                    assert_eq!(after[r * 8 + c], want, "orientation {exif} at {r},{c}");
                }
            }
        }
    }

    #[test]
    fn hostile_files_give_none_or_a_jpeg_never_a_panic() {
        let bytes = encoded(&picture(48, 40), SamplingFactor::F_2_2, false, 2);
        for exif in 1..=8 {
            for cut in (0..bytes.len()).step_by(7) {
                let _ = upright(&bytes[..cut], exif, u64::MAX);
            }
            for at in (2..bytes.len()).step_by(3) {
                let mut bad = bytes.clone();
                bad[at] ^= 0x5A;
                let _ = upright(&bad, exif, u64::MAX);
            }
        }
        // Tables redefined after the scan: refused, not applied to the wrong coefficients.
        let mut late = bytes[..bytes.len() - 2].to_vec();
        late.extend_from_slice(&[0xFF, DQT, 0, 67, 0]);
        late.extend_from_slice(&[1; 64]);
        late.extend_from_slice(&[0xFF, EOI]);
        assert!(upright(&bytes, 6, u64::MAX).is_some());
        assert!(upright(&late, 6, u64::MAX).is_none());
    }

    #[test]
    fn what_it_cannot_move_is_left_to_the_pixels() {
        let image = picture(64, 48);
        let mut progressive = Vec::new();
        let mut e = Encoder::new(&mut progressive, 80);
        e.set_progressive(true);
        e.encode(image.as_raw(), 64, 48, ColorType::Rgb).unwrap();
        assert!(upright(&progressive, 6, u64::MAX).is_none());
        // A mirror of a side shorter than one MCU leaves nothing.
        let tiny = encoded(&picture(12, 12), SamplingFactor::F_2_2, false, 0);
        assert!(upright(&tiny, 2, u64::MAX).is_none());
        assert!(upright(&tiny, 5, u64::MAX).is_some());
        // Not an orientation; more coefficients than allowed; not a JPEG.
        assert!(upright(&tiny, 9, u64::MAX).is_none());
        assert!(upright(&tiny, 6, 1024).is_none());
        assert!(upright(b"GIF89a", 6, u64::MAX).is_none());
    }
}
