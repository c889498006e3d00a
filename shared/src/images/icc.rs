//! ICC colour profiles: kept when they are whole and fit the pixels they go with. A profile
//! says how the colours read (a phone's Display P3 photo looks washed out without it); one
//! that is cut, crafted or for another colour space (the CMYK profile of a print file, whose
//! pixels become RGB here) is dropped rather than shown wrong.

/// Largest profile kept (a camera's is a few hundred bytes to a few KB; a print CMYK one
/// about 0.5 MB, and it never goes with RGB pixels).
pub const MAX_PROFILE_BYTES: usize = 1024 * 1024;

/// The profile that JPEG `APP2 ICC_PROFILE` chunks (sequence number, count, bytes) make, when
/// they are all there (numbered 1 to their count, once each) and it is a profile.
pub fn assembled(chunks: &[(u8, u8, &[u8])]) -> Option<Vec<u8>> {
    let count = chunks.first()?.1;
    if usize::from(count) != chunks.len() || chunks.iter().any(|c| c.1 != count) {
        return None;
    }
    let mut ordered: Vec<&(u8, u8, &[u8])> = chunks.iter().collect();
    ordered.sort_by_key(|c| c.0);
    if ordered
        .iter()
        .enumerate()
        .any(|(i, c)| usize::from(c.0) != i + 1)
    {
        return None;
    }
    let profile: Vec<u8> = ordered.iter().flat_map(|c| c.2.iter().copied()).collect();
    is_profile(&profile).then_some(profile)
}

/// A profile's header: at least 128 bytes, its size field right, `acsp` at 36, within the cap.
pub fn is_profile(profile: &[u8]) -> bool {
    profile.len() >= 128
        && profile.len() <= MAX_PROFILE_BYTES
        && profile.get(36..40) == Some(b"acsp")
        && profile
            .get(0..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            == Some(profile.len())
}

/// Whether `profile` can go with RGB (or RGBA) pixels: a whole profile of the RGB space.
pub fn fits_rgb(profile: &[u8]) -> bool {
    is_profile(profile) && profile.get(16..20) == Some(b"RGB ")
}

#[cfg(test)]
pub(crate) fn sample(space: &[u8; 4], len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0..4].copy_from_slice(&(len as u32).to_be_bytes());
    p[16..20].copy_from_slice(space);
    p[36..40].copy_from_slice(b"acsp");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_kept_whole_and_for_its_colour_space() {
        let rgb = sample(b"RGB ", 300);
        let (a, b) = rgb.split_at(100);
        assert_eq!(assembled(&[(2, 2, b), (1, 2, a)]), Some(rgb.clone()));
        // A chunk missing, counted twice, or numbered wrong: none.
        assert_eq!(assembled(&[(1, 2, a)]), None);
        assert_eq!(assembled(&[(1, 2, a), (1, 2, b)]), None);
        assert_eq!(assembled(&[(1, 2, a), (3, 2, b)]), None);
        // Not a profile: no signature, a size that lies.
        let mut junk = rgb.clone();
        junk[36] = b'x';
        assert!(!is_profile(&junk));
        assert!(!is_profile(&rgb[..200]));
        assert!(fits_rgb(&rgb));
        assert!(!fits_rgb(&sample(b"CMYK", 300)));
        assert!(!fits_rgb(&sample(b"GRAY", 300)));
    }
}
