//! Enums with stable numeric codes and names, declared once.
//!
//! The result kinds, purposes, algorithms, states, roles and approval
//! operations are shared with the C ABI (as `KL_*` codes), with JSON and
//! policy files (as snake-case names) and with messages. [`code_enum!`]
//! declares each of them once — variant, code, name — and generates the
//! list of every value, both lookups and `Display`, so the three cannot
//! drift apart. (rustls-ffi's `u32_enum_builder!` is the model.)

/// What every code enum provides, for code that handles them generically
/// (the C ABI decodes any of them with one function).
pub trait CodeEnum: Copy + Eq + core::fmt::Debug + 'static {
    /// Every value, in code order.
    const VALUES: &'static [Self];
    /// What a value is, for messages ("purpose", "role", …).
    const WHAT: &'static str;
    /// The C ABI's constants for it ("KL_PURPOSE_*", …).
    #[cfg_attr(not(feature = "ffi"), allow(dead_code))] // read by the C ABI
    const C_NAMES: &'static str;
    /// The numeric code (the C ABI's constant).
    #[cfg_attr(not(feature = "ffi"), allow(dead_code))] // read by the C ABI
    fn code_u32(self) -> u32;
    /// The name (as in JSON, policy files and messages).
    fn name(self) -> &'static str;
    /// The value for a code, if known.
    #[cfg_attr(not(feature = "ffi"), allow(dead_code))] // read by the C ABI
    fn from_code_u32(code: u32) -> Option<Self> {
        Self::VALUES.iter().copied().find(|v| v.code_u32() == code)
    }
}

/// Declares a `#[repr]` enum with explicit codes and names:
///
/// ```text
/// code_enum! {
///     /// docs
///     #[derive(Serialize)]
///     pub enum Purpose: u32 ("purpose", "KL_PURPOSE_*") {
///         /// docs
///         Aead = 1 => "aead",
///     }
/// }
/// ```
///
/// and generates `ALL`, `code`, `from_code`, `as_str`, `as_cstr` (for the C
/// ABI's static strings), `Display` and [`CodeEnum`].
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $repr:ident ($what:literal, $cnames:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr($repr)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $code, )+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: [$name; [$($code),+].len()] = [$($name::$variant),+];

            /// The stable numeric code (the C ABI's constant).
            #[must_use]
            pub const fn code(self) -> $repr {
                self as $repr
            }

            /// The value for a numeric code, if the code is known.
            #[must_use]
            pub const fn from_code(code: $repr) -> Option<$name> {
                match code {
                    $( $code => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// The name: static, secret-free.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// The name as a static C string.
            #[allow(dead_code)] // only the C ABI reads it, and not for every enum
            pub(crate) const fn as_cstr(self) -> &'static core::ffi::CStr {
                match self {
                    $( $name::$variant => {
                        match core::ffi::CStr::from_bytes_with_nul(concat!($text, "\0").as_bytes()) {
                            Ok(c) => c,
                            Err(_) => c"",
                        }
                    } )+
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::base::codes::CodeEnum for $name {
            const VALUES: &'static [$name] = &$name::ALL;
            const WHAT: &'static str = $what;
            const C_NAMES: &'static str = $cnames;
            fn code_u32(self) -> u32 {
                u32::from(self as $repr)
            }
            fn name(self) -> &'static str {
                self.as_str()
            }
        }
    };
}
pub(crate) use code_enum;

/// The value of `T` named `s`, or a [`crate::ErrorKind::Malformed`] error
/// naming what was expected.
pub(crate) fn parse_name<T: CodeEnum>(s: &str) -> super::error::Result<T> {
    T::VALUES
        .iter()
        .copied()
        .find(|v| v.name() == s)
        .ok_or_else(|| {
            let names: Vec<&str> = T::VALUES.iter().map(|v| v.name()).collect();
            super::error::Error::malformed(format!(
                "unknown {} '{s}' (one of: {})",
                T::WHAT,
                names.join(", ")
            ))
        })
}
