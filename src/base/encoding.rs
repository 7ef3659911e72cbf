//! Lower-case hexadecimal (base16), the one encoding of ids, digests and
//! MACs in JSON, audit records and displays.

use core::fmt;

/// `bytes` as lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Writes `bytes` as lower-case hex to a formatter (no allocation).
pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// Exactly `N` bytes from `2 * N` hex digits (either case); `None` for any
/// other length or a non-hex character.
pub(crate) fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// Bytes from an even number of hex digits (either case), at most
/// `max_bytes` of them; `None` for an odd length, a longer string or a
/// non-hex character. Never slices inside a multi-byte character.
pub(crate) fn parse_hex_vec(s: &str, max_bytes: usize) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) || s.len() / 2 > max_bytes {
        return None;
    }
    s.chunks_exact(2)
        .map(|pair| Some((digit(pair[0])? << 4) | digit(pair[1])?))
        .collect()
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Serde for a 32-byte value as 64 hex digits (`#[serde(with = "hex32")]`).
pub(crate) mod hex32 {
    /// Serializes as 64 lower-case hex digits.
    pub(crate) fn serialize<S: serde::Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex(b))
    }

    /// Deserializes exactly 64 hex digits.
    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<[u8; 32], D::Error> {
        let s = <&str as serde::Deserialize>::deserialize(d)?;
        super::parse_hex::<32>(s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let b = [0x00, 0x0f, 0xa5, 0xff];
        assert_eq!(hex(&b), "000fa5ff");
        assert_eq!(parse_hex::<4>("000FA5ff"), Some(b));
        assert_eq!(parse_hex::<4>("000fa5f"), None);
        assert_eq!(parse_hex::<4>("000fa5fg"), None);
        // Multi-byte characters: rejected, never sliced mid-character.
        assert_eq!(parse_hex::<2>("é0é"), None);
        assert_eq!(parse_hex::<3>("ééé"), None);
        assert_eq!(parse_hex_vec("000fa5ff", 4), Some(b.to_vec()));
        assert_eq!(parse_hex_vec("000fa5ff", 3), None);
        assert_eq!(parse_hex_vec("000", 4), None);
        assert_eq!(parse_hex_vec("30\u{3a9}0", 8), None);
        assert_eq!(parse_hex_vec("3030\u{fffd}30", 8), None);
    }
}
