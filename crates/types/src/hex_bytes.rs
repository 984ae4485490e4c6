//! Fixed-size byte strings that read and write as lowercase hex in JSON and TOML, and as raw
//! bytes in the canonical encoding.

/// Define a `[u8; N]` newtype with hex `Display`/`FromStr` and format-aware serde.
#[macro_export]
macro_rules! hex_newtype {
    ($(#[$meta:meta])* $name:ident, $len:expr, $field:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Number of bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.0))
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::TypesError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                let s = s.strip_prefix("0x").unwrap_or(s);
                let mut out = [0u8; $len];
                if s.len() != 2 * $len {
                    return Err($crate::TypesError::Parse {
                        field: $field,
                        reason: format!(
                            "expected {} hex characters, got {}",
                            2 * $len,
                            s.len()
                        ),
                    });
                }
                hex::decode_to_slice(s, &mut out).map_err(|e| $crate::TypesError::Parse {
                    field: $field,
                    reason: e.to_string(),
                })?;
                Ok($name(out))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&hex::encode(self.0))
                } else {
                    <[u8; $len] as $crate::hex_bytes::serde_big_array_shim::BigArray>::serialize(&self.0, s)
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                    s.parse().map_err(serde::de::Error::custom)
                } else {
                    let bytes = <[u8; $len] as $crate::hex_bytes::serde_big_array_shim::BigArray>::deserialize(d)?;
                    Ok($name(bytes))
                }
            }
        }
    };
}

/// Serde for byte arrays of any length as a fixed-size tuple (no length prefix), which is what the
/// canonical encoding wants: the length is part of the type.
pub mod serde_big_array_shim {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeTuple;
    use serde::{Deserializer, Serializer};
    use std::fmt;

    /// Serialize/deserialize `[u8; N]` as an N-tuple.
    pub trait BigArray<'de>: Sized {
        /// Write as a tuple.
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
        /// Read a tuple.
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
    }

    impl<'de, const N: usize> BigArray<'de> for [u8; N] {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut t = s.serialize_tuple(N)?;
            for b in self {
                t.serialize_element(b)?;
            }
            t.end()
        }

        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<const N: usize>;
            impl<'de, const N: usize> Visitor<'de> for V<N> {
                type Value = [u8; N];
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, "{N} bytes")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
                    let mut out = [0u8; N];
                    for (i, slot) in out.iter_mut().enumerate() {
                        *slot = seq
                            .next_element()?
                            .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                    }
                    Ok(out)
                }
            }
            d.deserialize_tuple(N, V::<N>)
        }
    }
}

pub use serde_big_array_shim as shim;
