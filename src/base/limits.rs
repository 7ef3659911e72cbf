//! Bounds on what keylife reads before it can trust it: document and record
//! sizes and nesting, checked before any parsing or decryption, so hostile
//! input fails fast with a specific error instead of costing memory, time
//! or stack.

use super::error::{Error, ErrorKind, Result};

/// The most a policy document (TOML or JSON) or an approver registry may
/// be: far above any real one.
pub(crate) const MAX_DOCUMENT: usize = 1024 * 1024;
/// The most an audit checkpoint or an approval request may be.
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;
/// The most a store header may be (read before anything authenticates it).
pub(crate) const MAX_HEADER: usize = 1024 * 1024;
/// The most a sealed record may be (checked before it is decrypted).
pub(crate) const MAX_RECORD: usize = 16 * 1024 * 1024;
/// The deepest nesting of arrays and tables a TOML policy may have (real
/// ones have 3); serde_json stops JSON at 128 levels on its own.
pub(crate) const MAX_TOML_NESTING: usize = 32;

/// Refuses `len` bytes of `what` above `max`, with `kind`.
pub(crate) fn check_size(what: &str, len: usize, max: usize, kind: ErrorKind) -> Result<()> {
    if len > max {
        return Err(Error::new(
            kind,
            format!("{what} of {len} bytes exceeds the {max}-byte limit"),
        ));
    }
    Ok(())
}

/// The deepest nesting of `[` and `{` in TOML text, outside strings and
/// comments (a cheap scan, before the recursive parser runs).
pub(crate) fn toml_nesting(src: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut chars = src.chars();
    while let Some(c) = chars.next() {
        match c {
            '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' | '\'' => {
                let quote = c;
                let mut escaped = false;
                for c in chars.by_ref() {
                    if quote == '"' && escaped {
                        escaped = false;
                    } else if quote == '"' && c == '\\' {
                        escaped = true;
                    } else if c == quote {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_ignores_strings_and_comments() {
        assert_eq!(toml_nesting("a = [[1], [2]]\n[t]\n"), 2);
        assert_eq!(toml_nesting("a = \"[[[[\" # {{{{\nb = '[[['"), 0);
        assert_eq!(toml_nesting("a = \"\\\"[\" \n"), 0);
        assert_eq!(toml_nesting(&"[".repeat(100)), 100);
        assert!(check_size("x", 11, 10, ErrorKind::Malformed).is_err());
        assert!(check_size("x", 10, 10, ErrorKind::Malformed).is_ok());
    }
}
