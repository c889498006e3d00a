//! What a file really is, read from its first bytes: never from its name or the type its
//! uploader declared.

use super::ImageRefused;

/// The formats an upload may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    WebP,
}

impl Kind {
    pub fn format(self) -> image::ImageFormat {
        match self {
            Kind::Jpeg => image::ImageFormat::Jpeg,
            Kind::Png => image::ImageFormat::Png,
            Kind::WebP => image::ImageFormat::WebP,
        }
    }
}

/// The format of `bytes`, or why it is not one an upload may be (naming what it looks like).
pub fn sniff(bytes: &[u8]) -> Result<Kind, ImageRefused> {
    if bytes.is_empty() {
        return Err(ImageRefused::Empty);
    }
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Kind::Jpeg);
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Ok(Kind::Png);
    }
    if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        return Ok(Kind::WebP);
    }
    let found = if starts(b"GIF87a") || starts(b"GIF89a") {
        "gif"
    } else if starts(b"%PDF") {
        "pdf"
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        "zip"
    } else if starts(b"BM") {
        "bmp"
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        "tiff"
    } else if bytes.get(4..8) == Some(b"ftyp") {
        "heif or another ISO media file"
    } else if looks_like_markup(bytes) {
        "svg or html"
    } else {
        "unknown"
    };
    Err(ImageRefused::Unsupported { found })
}

/// Text that opens with a tag (after a byte-order mark and white space): SVG, HTML, XML.
fn looks_like_markup(bytes: &[u8]) -> bool {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    text.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'<')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(bytes: &[u8]) -> &'static str {
        match sniff(bytes) {
            Err(ImageRefused::Unsupported { found }) => found,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn formats_come_from_the_bytes() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap(), Kind::Jpeg);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n....").unwrap(), Kind::Png);
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 ").unwrap(), Kind::WebP);
        assert_eq!(sniff(b""), Err(ImageRefused::Empty));
        assert_eq!(found(b"GIF89a\x01\0"), "gif");
        assert_eq!(found(b"%PDF-1.7"), "pdf");
        assert_eq!(found(b"PK\x03\x04\x14\0"), "zip");
        assert_eq!(
            found(b"\xEF\xBB\xBF  <svg xmlns='http://www.w3.org/2000/svg'/>"),
            "svg or html"
        );
        assert_eq!(found(b"<!doctype html><p>hi"), "svg or html");
        assert_eq!(found(b"RIFF\x10\0\0\0WAVEfmt "), "unknown");
        assert_eq!(found(b"just text"), "unknown");
    }
}
